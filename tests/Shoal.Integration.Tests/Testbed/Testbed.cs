using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Shoal.Integration.Tests.Support;

namespace Shoal.Integration.Tests.Testbed;

/// <summary>
/// A LAN of network namespaces built by <c>testbed/up</c>: host i is namespace NAME-hi with address 10.77.S.(i+1).
/// Split at host K, it is two LANs joined by a router: hosts K+1..N are on 10.78.S.0/24, host K+j at 10.78.S.(j+1).
/// Nothing in it can reach the root namespace's network; dispose always tears it down with <c>testbed/down</c>.
/// </summary>
public sealed class Testbed : IAsyncDisposable
{
    public const int PeerPort = 7420;

    // Parallel testbeds are isolated from each other anyway (each bridge is in its own namespace); distinct
    // subnets only keep logs and leftovers from different tests apart.
    private static int _nextSubnet = RandomNumberGenerator.GetInt32(1, 200);
    private static readonly Lazy<Task<string>> ShoalSnapshot = new(SnapshotShoalAsync);

    private readonly List<TestbedNode> _nodes = [];
    private bool _disposed;

    private Testbed(string name, int subnet, int hosts, int? split, int? nat)
    {
        Name = name;
        Subnet = subnet;
        Hosts = hosts;
        Split = split;
        Nat = nat;
    }

    public string Name { get; }

    public int Subnet { get; }

    public int Hosts { get; }

    /// <summary>The last host on the first LAN, if the hosts after it are on a second, routed one.</summary>
    public int? Split { get; }

    /// <summary>The last host on the public segment, if each host after it is alone in a home behind its own NAT router.</summary>
    public int? Nat { get; }

    /// <summary>Homes, sources and downloads: namespaces share the file system, so the root namespace can read them.</summary>
    public TempDirectory Directory { get; } = new("shoal-testbed");

    public static string Scripts => Path.Combine(ShoalCli.RepositoryRoot, "testbed");

    /// <summary>The program every testbed node and CLI call runs: <c>dotnet</c> and a private copy of the built CLI.</summary>
    public static IReadOnlyList<string> ShoalCommand => ["dotnet", ShoalSnapshot.Value.IsCompletedSuccessfully ? ShoalSnapshot.Value.Result : throw new InvalidOperationException("create a Testbed first")];

    /// <summary>The snapshot's <c>shoal.dll</c>, made on first use: for node processes outside a testbed that must not see a rebuild either.</summary>
    public static Task<string> SnapshotAsync() => ShoalSnapshot.Value;

    /// <param name="nat">Hosts after this one are each behind a NAT router (<c>testbed/up --nat</c>).</param>
    /// <param name="symmetric">The NAT routers map every connection to a new port, so no hole can be punched.</param>
    public static async Task<Testbed> CreateAsync(int hosts, string? rate = null, int? split = null, int? nat = null, bool symmetric = false)
    {
        if (split is { } last)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(last, 1, nameof(split));
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(last, hosts, nameof(split));
        }

        await ShoalSnapshot.Value;
        var subnet = (Interlocked.Increment(ref _nextSubnet) % 254) + 1;
        // testbed/up would adopt a testbed of the same name, and our testbed/down would then tear down another run's.
        string name;
        do
        {
            name = "sb" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2));
        }
        while (File.Exists($"/run/netns/{name}-br"));

        var testbed = new Testbed(name, subnet, hosts, split, nat);
        List<string> args = [name, hosts.ToString(CultureInfo.InvariantCulture), "--subnet", subnet.ToString(CultureInfo.InvariantCulture)];
        if (rate is not null) args.AddRange(["--rate", rate]);
        if (split is not null) args.AddRange(["--split", split.Value.ToString(CultureInfo.InvariantCulture)]);
        if (nat is not null) args.AddRange(["--nat", nat.Value.ToString(CultureInfo.InvariantCulture)]);
        if (symmetric) args.Add("--symmetric");
        try
        {
            var up = await ProcessRunner.RunAsync(Path.Combine(Scripts, "up"), args, TimeSpan.FromMinutes(1));
            if (up.ExitCode != 0) throw new InvalidOperationException($"testbed/up {string.Join(' ', args)} failed ({up.ExitCode}): {up.Stderr}");
        }
        catch
        {
            await testbed.DisposeAsync();
            throw;
        }

        return testbed;
    }

    public string Namespace(int host) => $"{Name}-h{host}";

    public string HostAddress(int host)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(host, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(host, Hosts);
        if (Nat is { } publicHosts && host > publicHosts) return $"10.{100 + host - publicHosts}.{Subnet}.2";
        var firstLan = Split ?? Hosts;
        return host <= firstLan ? $"10.77.{Subnet}.{host + 1}" : $"10.78.{Subnet}.{host - firstLan + 1}";
    }

    public string PeerAddress(int host) => $"{HostAddress(host)}:{PeerPort}";

    /// <summary>The public (wan0) address of the NAT router a home host is behind: what hosts outside see it as.</summary>
    public string RouterPublicAddress(int host) =>
        Nat is { } publicHosts && host > publicHosts ? $"10.77.{Subnet}.{200 + host - publicHosts}" : throw new ArgumentOutOfRangeException(nameof(host), "not a host behind a NAT router");

    /// <summary>Runs a command inside host <paramref name="host"/>'s namespace.</summary>
    public Task<CliResult> ExecAsync(int host, IReadOnlyList<string> command, TimeSpan? timeout = null) =>
        ProcessRunner.RunAsync(RootFactAttribute.FindIp() ?? "ip", ["netns", "exec", Namespace(host), .. command], timeout ?? TimeSpan.FromMinutes(3));

    /// <summary><c>./shoal ARGS</c> inside host <paramref name="host"/>'s namespace.</summary>
    public Task<CliResult> ShoalAsync(int host, params string[] args) => ExecAsync(host, [.. ShoalCommand, .. args]);

    /// <summary>Starts <c>shoal up</c> for <paramref name="home"/> on host <paramref name="host"/>; disposed with the testbed.</summary>
    public async Task<TestbedNode> StartNodeAsync(int host, string home, params string[] extraArgs)
    {
        var node = await TestbedNode.StartAsync(this, host, home, extraArgs);
        lock (_nodes) _nodes.Add(node);
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        List<TestbedNode> nodes;
        lock (_nodes) nodes = [.. _nodes];
        foreach (var node in nodes) await node.DisposeAsync();

        var down = await ProcessRunner.RunAsync(Path.Combine(Scripts, "down"), [Name], TimeSpan.FromMinutes(1));
        Directory.Dispose();
        if (down.ExitCode != 0) throw new InvalidOperationException($"testbed/down {Name} failed: {down.Stderr}");
    }

    /// <summary>
    /// Builds <c>./shoal</c> in the root namespace and runs a copy of the result. The wrapper itself is not run in
    /// a namespace: a source edited during the run would make it rebuild there, with no network for NuGet, in the
    /// middle of a test, and replace the program under nodes that are running it.
    /// </summary>
    private static async Task<string> SnapshotShoalAsync()
    {
        var version = await ShoalCli.RunAsync("--version");
        if (version.ExitCode != 0) throw new InvalidOperationException($"./shoal does not build or run: {ProcessRunner.Describe(version)}");
        var built = Path.Combine(ShoalCli.RepositoryRoot, ".shoal-build");
        var snapshot = Path.Combine(Path.GetTempPath(), $"shoal-testbed-bin-{Guid.NewGuid():N}");
        // Under the wrapper's build lock, so a build started meanwhile by someone else is never copied half-written.
        var copy = await ProcessRunner.RunAsync("flock", [Path.Combine(built, ".lock"), "cp", "-R", built, snapshot], TimeSpan.FromMinutes(5));
        if (copy.ExitCode != 0) throw new InvalidOperationException($"copying {built}: {ProcessRunner.Describe(copy)}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                System.IO.Directory.Delete(snapshot, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: it is a few MB in the temp directory.
            }
        };
        return Path.Combine(snapshot, "shoal.dll");
    }
}

/// <summary>Runs a program to completion with captured output; a timeout kills its whole tree.</summary>
internal static class ProcessRunner
{
    public static ProcessStartInfo StartInfo(string fileName, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.Environment.Remove(Shoal.Node.Home.NodeHome.EnvironmentVariable);
        return info;
    }

    public static async Task<CliResult> RunAsync(string fileName, IEnumerable<string> args, TimeSpan timeout)
    {
        var info = StartInfo(fileName, args);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {fileName}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', info.ArgumentList)} did not finish in {timeout}");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    public static string Describe(CliResult result)
    {
        var text = new StringBuilder().Append("exit ").Append(result.ExitCode);
        if (result.Stdout.Length > 0) text.Append("; stdout: ").Append(result.Stdout.Trim());
        if (result.Stderr.Length > 0) text.Append("; stderr: ").Append(result.Stderr.Trim());
        return text.ToString();
    }
}
