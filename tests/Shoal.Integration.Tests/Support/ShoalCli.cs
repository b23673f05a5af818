using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Shoal.Node.Api;
using Shoal.Node.Home;

namespace Shoal.Integration.Tests.Support;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Drives the real <c>./shoal</c> from the repository root, as a user or a script would.</summary>
public static class ShoalCli
{
    public static string RepositoryRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Shoal.slnx"))) directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException("cannot find the repository root");
    }

    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var info = new ProcessStartInfo(Path.Combine(RepositoryRoot, "shoal"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.Environment.Remove(NodeHome.EnvironmentVariable);
        return info;
    }

    public static Task<CliResult> RunAsync(params string[] args) => RunWithInputAsync("", args);

    /// <summary>Runs with <paramref name="input"/> as its whole stdin (a pipe, not a terminal).</summary>
    public static async Task<CliResult> RunWithInputAsync(string input, params string[] args)
    {
        using var process = Process.Start(StartInfo(args))!;
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"shoal {string.Join(' ', args)} did not finish");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>A node running as its own process (<c>shoal up</c>), so a test can kill it like a crash would.</summary>
public sealed class NodeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stderr;

    private NodeProcess(Process process, string home, string? log)
    {
        _process = process;
        Home = home;
        _stderr = process.StandardError.ReadToEndAsync();
        _ = log is null ? process.StandardOutput.ReadToEndAsync() : AppendAsync(process.StandardOutput, log);
    }

    private static async Task AppendAsync(StreamReader output, string log)
    {
        await using var file = new FileStream(log, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        await output.BaseStream.CopyToAsync(file);
    }

    public string Home { get; }

    public HttpClient Api { get; private set; } = null!;

    public static Task<NodeProcess> StartAsync(string home, params string[] extraArgs) => StartAsync(ShoalCli.StartInfo, home, log: null, extraArgs);

    /// <summary>
    /// Runs <c>up</c> through <paramref name="program"/> (arguments in, what to start out: <c>./shoal</c>, or a snapshot
    /// of it that a rebuild cannot touch), appending what it prints to <paramref name="log"/> if given.
    /// </summary>
    public static async Task<NodeProcess> StartAsync(Func<string[], ProcessStartInfo> program, string home, string? log, params string[] extraArgs)
    {
        var runtime = new NodeHome(home).RuntimePath;
        if (File.Exists(runtime)) File.Delete(runtime);
        var process = Process.Start(program(["up", "--home", home, "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--no-discovery", .. extraArgs]))!;
        process.StandardInput.Close();
        var node = new NodeProcess(process, home, log);
        var info = await Eventually.ValueAsync(
            () =>
            {
                if (process.HasExited) throw new InvalidOperationException($"shoal up exited with {process.ExitCode}: {node._stderr.Result}");
                try
                {
                    return Task.FromResult(File.Exists(runtime) ? JsonSerializer.Deserialize(File.ReadAllText(runtime), ApiJson.Default.RuntimeInfo) : null);
                }
                catch (Exception e) when (e is IOException or JsonException)
                {
                    return Task.FromResult<RuntimeInfo?>(null);
                }
            },
            "the node process to start");
        node.Api = new HttpClient { BaseAddress = new Uri(info.Url + "/") };
        node.Api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", info.Token);
        return node;
    }

    public int Pid => _process.Id;

    /// <summary>SIGKILL: no shutdown code runs, exactly like a crash or power cut of the process.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public async Task<int> StopAsync()
    {
        if (_process.HasExited) return _process.ExitCode;
        Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        await _process.WaitForExitAsync();
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Api?.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
