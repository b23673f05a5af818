using System.Diagnostics;
using System.Text.Json.Nodes;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Home;
using Xunit.Abstractions;

using static Shoal.Integration.Tests.Testbed.TestbedNetwork;

namespace Shoal.Integration.Tests.Testbed;

/// <summary>
/// Nodes on a real (virtual) LAN: each in its own network namespace with its own address, joined by a bridge,
/// so broadcast discovery, invites carrying real addresses, refusals and dropped links are exercised as on a
/// home network. Every question to a node goes through <c>shoal ... --json</c> run in its namespace.
/// </summary>
public sealed class TestbedTests(ITestOutputHelper output)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    [RootFact]
    public async Task Four_nodes_on_a_lan_discover_each_other_and_share_a_file()
    {
        await using var bed = await Testbed.CreateAsync(4);
        var nodes = await StartNetworkAsync(bed, 4);
        var started = Stopwatch.StartNew();
        var budget = TimeSpan.FromSeconds(30);

        // Every joiner dials the inviter's address from the invite: this part needs neither discovery nor peer exchange.
        await UntilAsync(
            async () => await SeesAllOnlineAsync(nodes[0], nodes[1..]) && (await Task.WhenAll(nodes[1..].Select(n => n.SeesOnlineAsync(nodes[0])))).All(x => x),
            budget,
            "node 1 and every joiner to see each other online",
            () => PeerTablesAsync(nodes));
        output.WriteLine($"node 1 <-> nodes 2..4 online after {started.Elapsed.TotalSeconds:F1} s");

        // Joiners know only node 1's address; finding each other takes discovery (or peer exchange).
        string? meshFailure = null;
        try
        {
            await UntilAsync(
                async () => (await Task.WhenAll(nodes.Select(n => SeesAllOnlineAsync(n, [.. nodes.Where(o => o != n)])))).All(x => x),
                budget - started.Elapsed,
                "every node to list the 3 others online",
                () => PeerTablesAsync(nodes));
            output.WriteLine($"full mesh (every node lists the 3 others online) after {started.Elapsed.TotalSeconds:F1} s");
        }
        catch (TimeoutException e)
        {
            meshFailure = $"nodes 2..4 did not connect to each other within {budget.TotalSeconds} s, so LAN discovery (or peer exchange) did not work: {e.Message}";
            output.WriteLine(meshFailure);
        }

        var source = TestFiles.Create(bed.Directory.Combine("src", "holiday photos.tar"), 8 * 1024 * 1024 + 123, seed: 77);
        var share = await nodes[0].RunCliAsync("share", source);
        Assert.True(share.ExitCode == 0, ProcessRunner.Describe(share));
        var link = share.Stdout.Trim();
        var downloads = bed.Directory.Combine("downloads-h4");
        var get = Stopwatch.StartNew();
        var result = await nodes[3].RunCliAsync("get", link, "-o", downloads);
        Assert.True(result.ExitCode == 0, ProcessRunner.Describe(result));
        output.WriteLine($"host 4 got the 8 MiB file from host 1 in {get.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(Path.Combine(downloads, "holiday photos.tar")));

        Assert.True(meshFailure is null, meshFailure);
    }

    [RootFact]
    public async Task Members_that_know_no_address_find_each_other_by_discovery_alone()
    {
        await using var bed = await Testbed.CreateAsync(4);
        var firstHome = bed.Directory.Combine("h1");
        await InitAsync(bed, 1, firstHome, joinCode: null);
        var first = await bed.StartNodeAsync(1, firstHome);
        var invite = await first.RunCliAsync("invite");
        Assert.True(invite.ExitCode == 0, ProcessRunner.Describe(invite));

        // Joined, then the invite's address forgotten: only discovery can bring these nodes together.
        var homes = new List<string>();
        for (var host = 2; host <= 4; host++)
        {
            var home = bed.Directory.Combine($"h{host}");
            await InitAsync(bed, host, home, invite.Stdout.Trim());
            ForgetPeers(home);
            homes.Add(home);
        }

        var started = Stopwatch.StartNew();
        var a = await bed.StartNodeAsync(2, homes[0]);
        var b = await bed.StartNodeAsync(3, homes[1]);
        TestbedNode[] nodes = [first, a, b];
        await UntilAsync(
            async () => (await Task.WhenAll(nodes.Select(n => SeesAllOnlineAsync(n, [.. nodes.Where(o => o != n)])))).All(x => x),
            TimeSpan.FromSeconds(30),
            "three members with no peer addresses to find each other",
            () => PeerTablesAsync(nodes));
        output.WriteLine($"discovery alone: 3 nodes fully connected {started.Elapsed.TotalSeconds:F1} s after the joiners started");

        // A member with discovery off and no address is invisible to the others and hears nobody.
        var silent = await bed.StartNodeAsync(4, homes[2], "--no-discovery");
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.DoesNotContain(await silent.PeersAsync(), p => p.Online);
        foreach (var node in nodes) Assert.False(await node.SeesOnlineAsync(silent), $"host {node.Host} reached the --no-discovery node");
    }

    [RootFact]
    public async Task A_node_of_another_network_is_refused_by_the_members()
    {
        await using var bed = await Testbed.CreateAsync(3);
        var members = await StartNetworkAsync(bed, 2);
        var strangerHome = bed.Directory.Combine("h3");
        await InitAsync(bed, 3, strangerHome, joinCode: null);
        var stranger = await bed.StartNodeAsync(3, strangerHome, "--peer", members[0].Address);

        // The positive control: members do connect, so "never online" below is not an artefact of a dead testbed.
        await UntilAsync(
            async () => await members[0].SeesOnlineAsync(members[1]) && await members[1].SeesOnlineAsync(members[0]),
            TimeSpan.FromSeconds(30),
            "the two members to connect",
            () => PeerTablesAsync([.. members, stranger]));

        // The stranger keeps dialling member 1 (static peer, with backoff); watch for several of its attempts.
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(8))
        {
            foreach (var member in members)
            {
                var view = (await member.PeersAsync()).FirstOrDefault(p => p.Id == stranger.Id);
                Assert.False(view is { Online: true }, $"host {member.Host} shows the stranger online:\n{await PeerTablesAsync([.. members, stranger])}");
            }

            var strangerPeers = await stranger.PeersAsync();
            Assert.DoesNotContain(strangerPeers, p => p.Online);
            Assert.False(stranger.HasExited, $"the stranger's node exited: {stranger.Output}");
            await Task.Delay(PollInterval);
        }

        // Its attempt did reach member 1 (the refusal is logged with the dialler's address), so the test is not vacuous.
        Assert.Contains(bed.HostAddress(3), members[0].Output, StringComparison.Ordinal);
        output.WriteLine($"member 1 log about the stranger:\n{string.Join('\n', members[0].Output.Split('\n').Where(l => l.Contains(bed.HostAddress(3), StringComparison.Ordinal)).Take(5))}");
    }

    [RootFact]
    public async Task A_node_that_dies_is_shown_offline_and_online_again_after_restart()
    {
        await using var bed = await Testbed.CreateAsync(3);
        var nodes = await StartNetworkAsync(bed, 3);
        await UntilAsync(
            async () => await SeesAllOnlineAsync(nodes[0], nodes[1..]) && await nodes[2].SeesOnlineAsync(nodes[0]) && await nodes[1].SeesOnlineAsync(nodes[0]),
            TimeSpan.FromSeconds(30),
            "node 1 and the joiners to see each other online",
            () => PeerTablesAsync(nodes));

        // A joiner dies: whoever saw it online must notice when the link drops.
        var victim = nodes[2];
        var observers = new List<TestbedNode>();
        foreach (var node in nodes[..2])
        {
            if (await node.SeesOnlineAsync(victim)) observers.Add(node);
        }

        await victim.KillAsync();
        var clock = Stopwatch.StartNew();
        await UntilAsync(
            async () => (await Task.WhenAll(observers.Select(async o => !await o.SeesOnlineAsync(victim)))).All(x => x),
            TimeSpan.FromSeconds(60),
            "the killed joiner to be shown offline",
            () => PeerTablesAsync(observers));
        output.WriteLine($"killed host 3: shown offline by hosts {string.Join(",", observers.Select(o => o.Host))} after {clock.Elapsed.TotalSeconds:F1} s");

        var restarted = await bed.StartNodeAsync(3, victim.Home);
        Assert.Equal(victim.Id, restarted.Id);
        clock.Restart();
        await UntilAsync(
            async () => (await Task.WhenAll(observers.Select(o => o.SeesOnlineAsync(restarted)))).All(x => x),
            TimeSpan.FromSeconds(60),
            "the restarted joiner to be shown online again",
            () => PeerTablesAsync([.. observers, restarted]));
        output.WriteLine($"restarted host 3: online again after {clock.Elapsed.TotalSeconds:F1} s");

        // The inviter dies: the joiners only know its address, so coming back needs them to dial it again.
        var hub = nodes[0];
        await hub.KillAsync();
        clock.Restart();
        await UntilAsync(
            async () => !await nodes[1].SeesOnlineAsync(hub),
            TimeSpan.FromSeconds(60),
            "the killed inviter to be shown offline",
            () => PeerTablesAsync([nodes[1]]));
        output.WriteLine($"killed host 1: shown offline by host 2 after {clock.Elapsed.TotalSeconds:F1} s");
        var hubAgain = await bed.StartNodeAsync(1, hub.Home);
        clock.Restart();
        await UntilAsync(
            async () => await nodes[1].SeesOnlineAsync(hubAgain) && await hubAgain.SeesOnlineAsync(nodes[1]),
            TimeSpan.FromSeconds(60),
            "the restarted inviter to be online again",
            () => PeerTablesAsync([nodes[1], hubAgain]));
        output.WriteLine($"restarted host 1: online again at host 2 after {clock.Elapsed.TotalSeconds:F1} s");
    }

    [RootFact]
    public async Task A_capped_link_caps_the_download_rate()
    {
        // 80 Mbit/s is 10 MB/s on the seed's egress: 20 MiB cannot arrive in much less than 2.1 s.
        await using var bed = await Testbed.CreateAsync(2, rate: "80mbit");
        var nodes = await StartNetworkAsync(bed, 2);
        await UntilAsync(
            async () => await nodes[1].SeesOnlineAsync(nodes[0]),
            TimeSpan.FromSeconds(30),
            "the sink to connect to the seed",
            () => PeerTablesAsync(nodes));
        const long size = 20L * 1024 * 1024;
        var source = TestFiles.Create(bed.Directory.Combine("src", "capped.bin"), size, seed: 80);
        var share = await nodes[0].RunCliAsync("share", source);
        Assert.True(share.ExitCode == 0, ProcessRunner.Describe(share));
        var downloads = bed.Directory.Combine("downloads-h2");

        var clock = Stopwatch.StartNew();
        var get = await nodes[1].RunCliAsync("get", share.Stdout.Trim(), "-o", downloads);
        var elapsed = clock.Elapsed;
        Assert.True(get.ExitCode == 0, ProcessRunner.Describe(get));
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(Path.Combine(downloads, "capped.bin")));

        var floor = TimeSpan.FromSeconds(size / 10_000_000.0 * 0.9);
        output.WriteLine($"20 MiB over an 80 Mbit/s link in {elapsed.TotalSeconds:F2} s ({size / elapsed.TotalSeconds / 1e6:F1} MB/s; floor {floor.TotalSeconds:F2} s)");
        Assert.True(elapsed >= floor, $"20 MiB arrived in {elapsed.TotalSeconds:F2} s, faster than an 80 Mbit/s link allows ({floor.TotalSeconds:F2} s)");
    }

    /// <summary>Empties the config's peer list, so the node knows no address to dial and only discovery is left.</summary>
    internal static void ForgetPeers(string home)
    {
        var path = new NodeHome(home).ConfigPath;
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config["peers"] = new JsonArray();
        File.WriteAllText(path, config.ToJsonString());
    }
}
