using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Shoal.Bench;

/// <summary>A place to run a process in a testbed: the host's namespace and its LAN address.</summary>
internal sealed record NetnsHost(string Namespace, string Address, int Port = NetnsHost.DefaultPort)
{
    public const int DefaultPort = 7420;

    /// <summary>What a node listens on there, and what other hosts dial.</summary>
    public string Listen => $"{Address}:{Port}";

    public NetnsHost WithPort(int port) => this with { Port = port };
}

/// <summary>
/// A LAN of network namespaces built by the repository's <c>testbed/</c> scripts (testbed/README.md): host i is
/// namespace NAME-hi at 10.77.S.(i+1), every host on one bridge, nothing reachable outside. Used for the scenarios with
/// capped uplinks (tc tbf on a host's eth0 egress). Named "bn" and random hex, apart from the tests' "sb" testbeds;
/// torn down on dispose, and by <see cref="Netns.DownAll"/> when the bench exits any other way.
/// </summary>
internal sealed class NetnsTestbed : IDisposable
{
    private readonly string _scripts;
    private bool _disposed;

    private NetnsTestbed(string scripts, string name, int subnet, int hosts)
    {
        _scripts = scripts;
        Name = name;
        Subnet = subnet;
        Hosts = hosts;
    }

    public string Name { get; }

    public int Subnet { get; }

    public int Hosts { get; }

    public static async Task<NetnsTestbed> CreateAsync(string repo, int hosts, CancellationToken cancellationToken)
    {
        var scripts = Path.Combine(repo, "testbed");
        // testbed/up adopts an existing testbed of the same name: a fresh name keeps another run's out of ours.
        string name;
        do
        {
            name = "bn" + RandomNumberGenerator.GetHexString(4, lowercase: true);
        }
        while (File.Exists($"/run/netns/{name}-br"));

        // Testbeds are isolated from each other whatever their subnets; a random one only keeps leftovers apart in logs.
        var subnet = RandomNumberGenerator.GetInt32(1, 255);
        var testbed = new NetnsTestbed(scripts, name, subnet, hosts);
        Netns.Live[name] = testbed;
        try
        {
            await Command.RunAsync(
                Path.Combine(scripts, "up"),
                [name, hosts.ToString(CultureInfo.InvariantCulture), "--subnet", subnet.ToString(CultureInfo.InvariantCulture)],
                cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            testbed.Dispose();
            throw;
        }

        return testbed;
    }

    public NetnsHost Host(int host)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(host, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(host, Hosts);
        return new NetnsHost($"{Name}-h{host}", $"10.77.{Subnet}.{host + 1}");
    }

    /// <summary>Caps the host's egress (its uplink) with tc tbf, e.g. "200mbit"; its downlink stays uncapped.</summary>
    public Task CapAsync(int host, string rate, CancellationToken cancellationToken) =>
        Command.RunAsync(Path.Combine(_scripts, "rate"), [Name, host.ToString(CultureInfo.InvariantCulture), rate], cancellationToken);

    /// <summary>testbed/down kills whatever still runs in the namespaces and deletes them (with their veths and qdiscs).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            using var down = Process.Start(new ProcessStartInfo(Path.Combine(_scripts, "down")) { ArgumentList = { Name }, UseShellExecute = false, RedirectStandardError = true });
            if (down is null || !down.WaitForExit(60_000) || down.ExitCode != 0)
            {
                Console.Error.WriteLine($"bench: testbed/down {Name} failed; remove it by hand: {Path.Combine(_scripts, "down")} {Name}");
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"bench: cannot run testbed/down {Name}: {e.Message}");
        }

        Netns.Live.TryRemove(Name, out _);
    }
}

/// <summary>Reaching into testbed namespaces from the bench process, and what a testbed scenario needs before it starts.</summary>
internal static class Netns
{
    private const int CloneNewNet = 0x40000000;
    private const int OpenReadOnlyCloseOnExec = 0x80000;

    private static readonly SemaphoreSlim SnapshotGate = new(1, 1);
    private static string? _snapshot;

    /// <summary>Every testbed not yet torn down, so an exit path that skips the scenario's own cleanup still removes them.</summary>
    internal static ConcurrentDictionary<string, NetnsTestbed> Live { get; } = new();

    public static void DownAll()
    {
        foreach (var testbed in Live.Values) testbed.Dispose();
    }

    /// <summary>Why testbed scenarios cannot run here (they need root, <c>ip</c> and <c>tc</c>), or null when they can.</summary>
    public static string? Unavailable()
    {
        if (!Environment.IsPrivilegedProcess) return "needs root (network namespaces)";
        var missing = new[] { "ip", "tc" }.Where(tool => !OnPath(tool)).ToArray();
        return missing.Length == 0 ? null : $"{string.Join(" and ", missing)} not installed (apt-get install -y iproute2)";
    }

    public static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Any(dir => File.Exists(Path.Combine(dir, program)));

    /// <summary>
    /// A private copy of the built CLI (and a <c>shoal</c> script that runs it) in the work directory, made once per
    /// invocation. Nodes in namespaces run it rather than <c>./shoal</c>: the wrapper rebuilds whenever someone edits
    /// <c>src/</c>, which would happen inside a namespace without network, and replace the program under running nodes.
    /// </summary>
    public static async Task<string> ShoalSnapshotAsync(BenchContext context, CancellationToken cancellationToken)
    {
        await SnapshotGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_snapshot is not null) return _snapshot;
            await Command.RunAsync(context.Shoal, ["--version"], cancellationToken).ConfigureAwait(false);
            var built = Path.Combine(Path.GetDirectoryName(context.Shoal)!, ".shoal-build");
            var copy = Path.Combine(context.WorkDir, "shoal-bin");
            // Under the wrapper's build lock, so a build started meanwhile is never copied half-written.
            await Command.RunAsync("flock", [Path.Combine(built, ".lock"), "cp", "-R", built, copy], cancellationToken).ConfigureAwait(false);
            var script = Path.Combine(copy, "shoal");
            await File.WriteAllTextAsync(script, "#!/bin/sh\nexec dotnet \"$(dirname \"$0\")/shoal.dll\" \"$@\"\n", cancellationToken).ConfigureAwait(false);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            _snapshot = script;
            return script;
        }
        finally
        {
            SnapshotGate.Release();
        }
    }

    /// <summary>
    /// An HTTP handler whose connections start in network namespace <paramref name="netns"/> (null: this process's own).
    /// A node in a testbed host serves its API on that namespace's loopback, which the bench's namespace cannot reach;
    /// a socket belongs to the namespace it was created in, so each one is created on a short-lived thread that has
    /// entered the namespace (setns affects only the calling thread), and used from anywhere after that.
    /// </summary>
    public static HttpMessageHandler Handler(string? netns)
    {
        if (netns is null) return new SocketsHttpHandler();
        return new SocketsHttpHandler
        {
            // Straight to the node: a proxy from the environment would be dialled in the wrong namespace anyway.
            UseProxy = false,
            ConnectCallback = async (context, cancellationToken) =>
            {
                var address = IPAddress.Parse(context.DnsEndPoint.Host);
                var socket = SocketIn(netns, address.AddressFamily);
                try
                {
                    socket.NoDelay = true;
                    await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
    }

    private static Socket SocketIn(string netns, AddressFamily family)
    {
        Socket? socket = null;
        string? failure = null;
        var thread = new Thread(() =>
        {
            var fd = Open($"/run/netns/{netns}", OpenReadOnlyCloseOnExec);
            if (fd < 0)
            {
                failure = $"cannot open /run/netns/{netns}: errno {Marshal.GetLastPInvokeError()}";
                return;
            }

            try
            {
                if (SetNs(fd, CloneNewNet) != 0) failure = $"setns into {netns} failed: errno {Marshal.GetLastPInvokeError()}";
                else socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
            }
            catch (SocketException e)
            {
                failure = $"socket in {netns}: {e.Message}";
            }
            finally
            {
                _ = Close(fd);
            }
        })
        { IsBackground = true, Name = "netns socket" };
        thread.Start();
        thread.Join();
        return socket ?? throw new HttpRequestException(failure ?? $"no socket in {netns}");
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int Open(string path, int flags);

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static extern int SetNs(int fd, int nsType);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);
}
