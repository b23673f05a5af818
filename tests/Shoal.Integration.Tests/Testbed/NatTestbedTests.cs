using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Home;
using Xunit.Abstractions;

using static Shoal.Integration.Tests.Testbed.TestbedNetwork;

namespace Shoal.Integration.Tests.Testbed;

/// <summary>
/// Two homes behind NAT routers and a public segment (<c>testbed/up --nat 2</c>): host 1 runs the tracker (and the
/// relay), host 2 a public node, hosts 3 and 4 one node each, alone behind their own routers, which let nothing
/// unsolicited in. The homes' nodes can only meet through a hole the tracker helps them punch, or through the relay.
/// </summary>
public sealed class NatTestbedTests(ITestOutputHelper output)
{
    private const int PublicHost = 1;
    private const int PublicNode = 2;
    private const int HomeA = 3;
    private const int HomeB = 4;
    private const int FileSize = 16 << 20;
    private static readonly TimeSpan MeetTimeout = TimeSpan.FromSeconds(90);

    [RootFact]
    public async Task Nodes_in_two_homes_punch_a_hole_and_a_public_node_is_reached_directly()
    {
        await using var bed = await Testbed.CreateAsync(4, nat: 2);
        await using var tracker = await StartAsync(bed, PublicHost, "is up on", ["tracker", "--listen", $"{bed.HostAddress(PublicHost)}:7423", "--db", bed.Directory.Combine("tracker.db"), "--interval", "2"]);
        var (a, b) = await StartHomesAsync(bed);

        await UntilAsync(() => LinkIsAsync(b, a, "punched"), MeetTimeout, "B to reach A through a punched hole", () => DescribeAsync([a, b], tracker));
        Assert.Equal("punched", (await a.PeersAsync()).Single(p => p.Id == b.Id).Link);
        var (link, source, _) = await ShareAsync(bed, a);
        var rate = await GetAsync(bed, b, link, source, "punched");

        // Each home learns its public address from the other's hello: its own router's, not its LAN address.
        var status = await b.RunCliAsync("status", "--json");
        Assert.True(status.ExitCode == 0, ProcessRunner.Describe(status));
        using (var seen = JsonDocument.Parse(status.Stdout))
        {
            Assert.Equal([bed.RouterPublicAddress(HomeB)], seen.RootElement.GetProperty("seenAs").EnumerateArray().Select(e => e.GetString()));
        }

        // The public node is dialled by both homes' nodes; a file from there comes over direct links.
        var invite = NodeSetup.CreateInvite(new NodeHome(a.Home), []);
        var home = bed.Directory.Combine("p");
        await InitAsync(bed, PublicNode, home, invite);
        var p = await bed.StartNodeAsync(PublicNode, home, "--tracker", TrackerUrl(bed), "--no-discovery");
        await UntilAsync(() => LinkIsAsync(b, p, "direct"), MeetTimeout, "B to reach the public node directly", () => DescribeAsync([a, b, p], tracker));
        var fromPublic = TestFiles.Create(bed.Directory.Combine("src-p", "public.bin"), FileSize, seed: 7);
        var shared = await p.RunCliAsync("share", fromPublic, "--json");
        Assert.True(shared.ExitCode == 0, ProcessRunner.Describe(shared));
        using var json = JsonDocument.Parse(shared.Stdout);
        var direct = await GetAsync(bed, b, json.RootElement[0].GetProperty("link").GetString()!, fromPublic, "direct");
        output.WriteLine($"throughput: punched {rate:F1} MB/s, direct {direct:F1} MB/s ({FileSize >> 20} MiB each)");
    }

    [RootFact]
    public async Task Without_a_punchable_nat_a_file_moves_through_the_relay_which_sees_only_ciphertext()
    {
        await using var bed = await Testbed.CreateAsync(4, nat: 2, symmetric: true);
        var tap = bed.Directory.Combine("relay.tap");
        var relayAddress = $"{bed.HostAddress(PublicHost)}:7424";
        await using var relay = await StartAsync(bed, PublicHost, "is up on", ["relay", "--listen", relayAddress], $"SHOAL_RELAY_TAP={tap}");
        await using var tracker = await StartAsync(
            bed, PublicHost, "is up on", ["tracker", "--listen", $"{bed.HostAddress(PublicHost)}:7423", "--db", bed.Directory.Combine("tracker.db"), "--interval", "2", "--relay", relayAddress]);
        var (a, b) = await StartHomesAsync(bed);

        await UntilAsync(() => LinkIsAsync(b, a, "relayed"), MeetTimeout, "B to reach A through the relay", () => DescribeAsync([a, b], tracker, relay));
        Assert.Equal("relayed", (await a.PeersAsync()).Single(p => p.Id == b.Id).Link);
        Assert.Contains("Punching to", a.Output + b.Output, StringComparison.Ordinal);
        var (link, source, marker) = await ShareAsync(bed, a);
        var rate = await GetAsync(bed, b, link, source, "relayed");
        output.WriteLine($"throughput: relayed {rate:F1} MB/s ({FileSize >> 20} MiB)");

        // The relay forwarded the whole file (and more: TLS records, the protocol), yet never the plaintext in it.
        await relay.DisposeAsync();
        var forwarded = await File.ReadAllBytesAsync(tap);
        Assert.True(forwarded.Length > FileSize, $"the relay forwarded only {forwarded.Length} bytes");
        Assert.Equal(-1, forwarded.AsSpan().IndexOf(marker));
        Assert.Equal(-1, forwarded.AsSpan().IndexOf(File.ReadAllBytes(source).AsSpan(1 << 20, 64)));
    }

    private static string TrackerUrl(Testbed bed) => $"http://{bed.HostAddress(PublicHost)}:7423";

    /// <summary>One network: A founds it, B joins; neither knows the other's address, only the tracker's.</summary>
    private static async Task<(TestbedNode A, TestbedNode B)> StartHomesAsync(Testbed bed)
    {
        var homeA = bed.Directory.Combine("a");
        await InitAsync(bed, HomeA, homeA, joinCode: null);
        var homeB = bed.Directory.Combine("b");
        await InitAsync(bed, HomeB, homeB, NodeSetup.CreateInvite(new NodeHome(homeA), []));
        var a = await bed.StartNodeAsync(HomeA, homeA, "--tracker", TrackerUrl(bed), "--no-discovery");
        var b = await bed.StartNodeAsync(HomeB, homeB, "--tracker", TrackerUrl(bed), "--no-discovery");
        return (a, b);
    }

    /// <summary>A file with a plaintext marker every 64 KiB between random bytes, shared on <paramref name="node"/>.</summary>
    private static async Task<(string Link, string Path, byte[] Marker)> ShareAsync(Testbed bed, TestbedNode node)
    {
        var marker = Encoding.ASCII.GetBytes($"SHOAL-PLAINTEXT-MARKER-{Guid.NewGuid():N}");
        var path = bed.Directory.Combine("src", "marked.bin");
        TestFiles.Create(path, FileSize, seed: 11);
        await using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            for (long at = 0; at + marker.Length < FileSize; at += 64 << 10)
            {
                file.Position = at;
                await file.WriteAsync(marker);
            }
        }

        var share = await node.RunCliAsync("share", path, "--json");
        Assert.True(share.ExitCode == 0, ProcessRunner.Describe(share));
        using var json = JsonDocument.Parse(share.Stdout);
        return (json.RootElement[0].GetProperty("link").GetString()!, path, marker);
    }

    /// <summary>Gets the file on <paramref name="node"/>, checks it and the link it came over; returns MB/s.</summary>
    private async Task<double> GetAsync(Testbed bed, TestbedNode node, string link, string source, string kind)
    {
        var target = bed.Directory.Combine($"downloads-{kind}");
        var clock = Stopwatch.StartNew();
        var get = await node.RunCliAsync("get", link, "-o", target);
        var elapsed = clock.Elapsed;
        Assert.True(get.ExitCode == 0, ProcessRunner.Describe(get));
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(Path.Combine(target, Path.GetFileName(source))));
        var rate = FileSize / 1e6 / elapsed.TotalSeconds;
        output.WriteLine($"{kind}: {FileSize >> 20} MiB in {elapsed.TotalSeconds:F2} s ({rate:F1} MB/s, including the CLI's start)");
        return rate;
    }

    private static async Task<bool> LinkIsAsync(TestbedNode node, TestbedNode other, string kind) =>
        (await node.PeersAsync()).Any(p => p.Id == other.Id && p.Online && p.Link == kind);

    private static async Task<string> DescribeAsync(IReadOnlyList<TestbedNode> nodes, params TestbedProcess[] services)
    {
        var text = new StringBuilder();
        foreach (var node in nodes)
        {
            var peers = node.HasExited ? [] : await node.PeersAsync();
            text.AppendLine($"host {node.Host}: {string.Join("; ", peers.Select(p => $"{p.Name} {(p.Online ? "online" : "offline")} {p.Link}"))}");
            text.AppendLine(node.Output);
        }

        foreach (var service in services) text.AppendLine(service.Output);
        return text.ToString();
    }

    /// <summary>A long-running shoal command (tracker, relay) in one host, once it printed <paramref name="ready"/>.</summary>
    private static async Task<TestbedProcess> StartAsync(Testbed bed, int host, string ready, IReadOnlyList<string> args, params string[] environment)
    {
        var process = TestbedProcess.Start(bed, host, args, environment);
        try
        {
            await Eventually.TrueAsync(
                () => process.HasExited ? throw new InvalidOperationException($"shoal {args[0]} exited with {process.ExitCode}: {process.Output}") : process.Output.Contains(ready, StringComparison.Ordinal),
                $"shoal {args[0]} to start",
                TimeSpan.FromSeconds(60));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }

        return process;
    }
}
