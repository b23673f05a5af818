using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Shoal.Bench.Peers;

/// <summary>
/// The npm BitTorrent tracker (<c>bittorrent-tracker</c> 9.19, installed into bench/.peers), HTTP only, bound to one
/// address: loopback, or a testbed host's LAN address when it runs in that host's namespace. Its <c>/stats.json</c>
/// says when the seeders have announced, so a leecher's clock starts with every seed known to the tracker.
/// </summary>
internal sealed class BtTracker : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    private readonly NodeProcess _process;
    private readonly HttpClient _http;

    private BtTracker(NodeProcess process, HttpClient http, string address, int port)
    {
        _process = process;
        _http = http;
        Announce = $"http://{address}:{port}/announce";
    }

    public string Announce { get; }

    /// <summary>The tracker's program, or null when it is not installed.</summary>
    public static string? Script(string repo)
    {
        var script = Path.Combine(repo, "bench", ".peers", "node_modules", "bittorrent-tracker", "bin", "cmd.js");
        return File.Exists(script) && Netns.OnPath("node") ? script : null;
    }

    /// <summary>Starts it and waits until it answers.</summary>
    /// <param name="netns">The namespace it runs in, whose address <paramref name="address"/> is; null for loopback.</param>
    public static async Task<BtTracker> StartAsync(string repo, string address, int port, string? netns, CancellationToken cancellationToken)
    {
        var script = Script(repo) ?? throw new BenchException("the BitTorrent tracker is not installed (cd bench/.peers && npm install --ignore-scripts bittorrent-tracker@9.19.0)");
        var process = NodeProcess.StartCommand(
            "node", "bt-tracker", [script, "--http", "--http-hostname", address, "--port", port.ToString(CultureInfo.InvariantCulture), "--quiet"], netns);
        var tracker = new BtTracker(process, new HttpClient(Netns.Handler(netns)) { BaseAddress = new Uri($"http://{address}:{port}/"), Timeout = TimeSpan.FromSeconds(10) }, address, port);
        try
        {
            var clock = Stopwatch.StartNew();
            while (await tracker.StatsAsync(cancellationToken).ConfigureAwait(false) is null)
            {
                process.ThrowIfExited("while starting");
                if (clock.Elapsed > StartTimeout) throw new BenchException($"the BitTorrent tracker did not answer within {StartTimeout.TotalSeconds:0} s{Environment.NewLine}{process.Tail()}");
                await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            tracker.Dispose();
            throw;
        }

        return tracker;
    }

    /// <summary>Waits until <paramref name="count"/> seeders (peers with nothing left to download) have announced.</summary>
    public async Task WaitForSeedersAsync(int count, TimeSpan timeout, IEnumerable<NodeProcess> seeds, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var stats = await StatsAsync(cancellationToken).ConfigureAwait(false);
            var seeders = (int?)stats?["peersSeederOnly"] ?? 0;
            if (seeders >= count) return;
            _process.ThrowIfExited("while the seeds announced");
            foreach (var seed in seeds) seed.ThrowIfExited("before it announced to the tracker");
            if (clock.Elapsed > timeout)
            {
                throw new BenchException($"the tracker knows {seeders} of {count} aria2 seeds after {timeout.TotalSeconds:0} s: {stats?.ToJsonString()}{Environment.NewLine}{string.Join(Environment.NewLine, seeds.Select(s => s.Tail()))}");
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<JsonNode?> StatsAsync(CancellationToken cancellationToken)
    {
        try
        {
            return JsonNode.Parse(await _http.GetStringAsync("stats.json", cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // Not listening yet (or just stopped): the caller's own timeout decides.
            return null;
        }
    }

    public void Dispose()
    {
        _process.Dispose();
        _http.Dispose();
    }
}
