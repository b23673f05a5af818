using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Shoal.Faults;
using Shoal.Integration.Tests.Support;
using Shoal.Integration.Tests.Testbed;
using Shoal.Node.Api;
using Shoal.Node.Home;

namespace Shoal.Integration.Tests.Chaos;

/// <summary>
/// Nodes as real processes on loopback (so they can be killed with SIGKILL), every pair linked only through two
/// fault proxies: node i dials node j at proxy (i, j). A node restarts on a new port; its proxies are pointed there.
/// </summary>
internal sealed class ChaosCluster : IAsyncDisposable
{
    /// <summary>A node silent this long is down for put repair: short, so repairs happen during the run.</summary>
    private const int DownAfterSeconds = 5;

    private readonly string[] _homes;
    private readonly NodeProcess?[] _running;
    private readonly FaultProxy[,] _proxies;
    private readonly Func<string[], ProcessStartInfo> _program;
    private readonly Lock _gate = new();

    private ChaosCluster(string directory, int count, string snapshot)
    {
        Directory = directory;
        _homes = [.. Enumerable.Range(0, count).Select(i => Path.Combine(directory, $"node{i}", "home"))];
        _running = new NodeProcess?[count];
        _proxies = new FaultProxy[count, count];
        _program = args => ProcessRunner.StartInfo("dotnet", [snapshot, .. args]);
    }

    public string Directory { get; }

    public int Count => _homes.Length;

    public static async Task<ChaosCluster> StartAsync(string directory, int count, int seed)
    {
        var cluster = new ChaosCluster(directory, count, await Testbed.Testbed.SnapshotAsync());
        try
        {
            for (var i = 0; i < count; i++)
            {
                var home = new NodeHome(cluster._homes[i]);
                // Invites without addresses: a node knows its peers only by their proxies.
                NodeSetup.Init(home, $"n{i}", folder: null, i == 0 ? null : NodeSetup.CreateInvite(new NodeHome(cluster._homes[0]), []));
                for (var j = 0; j < count; j++)
                {
                    if (i != j) cluster._proxies[i, j] = FaultProxy.Start(target: null, seed: unchecked((seed * 31) + (i * count) + j));
                }
            }

            await Task.WhenAll(Enumerable.Range(0, count).Select(cluster.StartNodeAsync));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public string Home(int node) => _homes[node];

    public string Folder(int node) => new NodeHome(_homes[node]).DefaultFolder;

    /// <summary>The node's scratch space beside its home, on the same file system as its folder.</summary>
    public string Scratch(int node, string name)
    {
        var path = Path.Combine(Directory, $"node{node}", name);
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    public string Log(int node) => Path.Combine(Directory, $"node{node}", "node.log");

    /// <summary>The running node, or null while it is down.</summary>
    public NodeProcess? Running(int node)
    {
        lock (_gate) return _running[node];
    }

    public IEnumerable<FaultProxy> Proxies => Enumerable.Range(0, Count).SelectMany(i => Enumerable.Range(0, Count).Where(j => j != i).Select(j => _proxies[i, j]));

    /// <summary>Both proxies between two nodes.</summary>
    public IEnumerable<FaultProxy> Link(int a, int b) => [_proxies[a, b], _proxies[b, a]];

    /// <summary>SIGKILL; returns false if it was already down.</summary>
    public async Task<bool> KillAsync(int node)
    {
        NodeProcess? process;
        lock (_gate)
        {
            process = _running[node];
            _running[node] = null;
        }

        if (process is null) return false;
        await process.KillAsync();
        await process.DisposeAsync();
        return true;
    }

    public async Task StartNodeAsync(int node)
    {
        var peers = Enumerable.Range(0, Count).Where(j => j != node).SelectMany(j => new[] { "--peer", _proxies[node, j].EndPoint.ToString() });
        var process = await NodeProcess.StartAsync(_program, _homes[node], Log(node), [.. peers, "--down-after", DownAfterSeconds.ToString(CultureInfo.InvariantCulture)]);
        // A put waits for its copies, which under chaos can take long.
        process.Api.Timeout = TimeSpan.FromMinutes(5);
        var status = await process.Api.GetFromJsonAsync("api/status", ApiJson.Default.StatusDto);
        var listen = IPEndPoint.Parse(status!.Listen[0]);
        for (var j = 0; j < Count; j++)
        {
            if (j != node) _proxies[j, node].Target = listen;
        }

        lock (_gate) _running[node] = process;
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < Count; i++) await KillAsync(i);
        foreach (var proxy in Proxies.Where(p => p is not null)) await proxy.DisposeAsync();
    }
}
