using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Shoal.Faults.Tests;

/// <summary>The proxy as its own process, as the testbed runs it.</summary>
public sealed partial class ConsoleTests
{
    private static readonly string Program = Path.Combine(AppContext.BaseDirectory, "Shoal.FaultProxy.dll");

    [Fact]
    public async Task It_prints_its_seed_and_address_forwards_applies_the_schedule_and_stops_on_sigterm()
    {
        using var target = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        target.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        target.Listen(1);
        using var process = Start("--listen", "127.0.0.1:0", "--target", target.LocalEndPoint!.ToString()!, "--seed", "9", "--schedule", "0s down delay 1ms");
        try
        {
            var first = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(1));
            var match = Listening().Match(first ?? "");
            Assert.True(match.Success, first);
            Assert.Equal("9", match.Groups["seed"].Value);
            Assert.Contains("0s down delay 1ms", await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(1)), StringComparison.Ordinal);

            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(IPEndPoint.Parse(match.Groups["listen"].Value));
            using var server = await target.AcceptAsync().WaitAsync(TimeSpan.FromMinutes(1));
            await server.SendAllAsync(new byte[] { 1, 2, 3 });
            Assert.Equal(new byte[] { 1, 2, 3 }, await client.ReceiveExactlyAsync(3));

            Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
            var rest = await process.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromMinutes(1));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
            Assert.Equal(0, process.ExitCode);
            Assert.Contains("1 connections", rest, StringComparison.Ordinal);
            Assert.Contains("down: delay 1ms; 3 bytes", rest, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
    }

    [Theory]
    [InlineData("--listen", "127.0.0.1:0")]
    [InlineData("--listen", "127.0.0.1:0", "--target", "127.0.0.1:1", "--schedule", "5s explode")]
    [InlineData("--frobnicate")]
    public async Task A_usage_error_exits_2_with_the_usage(params string[] args)
    {
        using var process = Start(args);
        try
        {
            var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromMinutes(1));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
            Assert.Equal(2, process.ExitCode);
            Assert.Contains("usage: Shoal.FaultProxy", stderr, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
    }

    private static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Program);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        return Process.Start(info)!;
    }

    [GeneratedRegex(@"^faultproxy: seed (?<seed>\d+); listening on (?<listen>[\d.]+:\d+), forwarding to ")]
    private static partial Regex Listening();
}
