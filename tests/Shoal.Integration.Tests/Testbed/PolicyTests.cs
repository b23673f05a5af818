using System.Diagnostics;
using Xunit.Abstractions;

using static Shoal.Integration.Tests.Testbed.TestbedNetwork;

namespace Shoal.Integration.Tests.Testbed;

/// <summary>
/// Who may stay connected, on a real (virtual) LAN: a subnet allow-list and a revocation must hold while discovery
/// keeps telling every node where the refused one is, and while that node keeps dialling (it knows the secret).
/// </summary>
public sealed class PolicyTests(ITestOutputHelper output)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    // Long enough for several of the refused node's redials (backoff 1 s, 2 s, 4 s) and LAN announcements to arrive.
    private static readonly TimeSpan RefusalWatch = TimeSpan.FromSeconds(8);

    [RootFact]
    public async Task A_node_allowing_one_address_refuses_the_rest_of_the_lan()
    {
        await using var bed = await Testbed.CreateAsync(3);
        // Debug logging, so that the refusals themselves show up in host 1's log and the test cannot pass vacuously.
        var nodes = await StartNetworkAsync(bed, 3, ["--allow-subnet", $"{bed.HostAddress(2)}/32", "--log-level", "debug"]);
        var (guarded, allowed, outsider) = (nodes[0], nodes[1], nodes[2]);
        var clock = Stopwatch.StartNew();

        await UntilAsync(
            async () => await guarded.SeesOnlineAsync(allowed) && await allowed.SeesOnlineAsync(guarded),
            TimeSpan.FromSeconds(30),
            "host 1 and the allowed host 2 to see each other online",
            () => PeerTablesAsync(nodes));
        output.WriteLine($"host 1 <-> host 2 (allowed) online after {clock.Elapsed.TotalSeconds:F1} s");

        // Watch for RefusalWatch, and at least until hosts 2 and 3 found each other: that is the control showing the
        // LAN works for host 3, so host 1's silence towards it is its policy and not a dead link.
        var watch = Stopwatch.StartNew();
        TimeSpan? meshed = null;
        while (watch.Elapsed < RefusalWatch || meshed is null)
        {
            Assert.False(await guarded.SeesOnlineAsync(outsider), $"host 1 (allowing only host 2) shows host 3 online after {watch.Elapsed.TotalSeconds:F1} s:\n{await PeerTablesAsync(nodes)}");
            Assert.False(await outsider.SeesOnlineAsync(guarded), $"host 3 shows host 1 online after {watch.Elapsed.TotalSeconds:F1} s:\n{await PeerTablesAsync(nodes)}");
            Assert.False(guarded.HasExited, $"host 1's node exited: {guarded.Output}");
            if (meshed is null && await allowed.SeesOnlineAsync(outsider) && await outsider.SeesOnlineAsync(allowed)) meshed = watch.Elapsed;
            if (watch.Elapsed > TimeSpan.FromSeconds(30))
            {
                Assert.Fail($"hosts 2 and 3 did not find each other within 30 s, so the LAN itself may be broken:\n{await PeerTablesAsync(nodes)}");
            }

            await Task.Delay(PollInterval);
        }

        output.WriteLine($"host 2 <-> host 3 online {meshed.Value.TotalSeconds:F1} s into the watch; host 1 and host 3 never connected in {watch.Elapsed.TotalSeconds:F1} s");
        Assert.True(await guarded.SeesOnlineAsync(allowed), $"host 1 lost the allowed host 2:\n{await PeerTablesAsync(nodes)}");

        // Host 3 dials host 1 (the invite's address) and announces itself: host 1 must have dropped both, which shows
        // the policy was exercised. Connections are dropped before TLS and logged with the dialler's address.
        var refusals = RefusalLines(guarded, bed.HostAddress(3));
        output.WriteLine($"host 1 log about host 3:\n{string.Join('\n', refusals.Take(6))}");
        Assert.Contains(refusals, l => l.Contains("Refused a connection from", StringComparison.Ordinal));
    }

    [RootFact]
    public async Task A_revoked_device_is_cut_off_and_stays_out()
    {
        await using var bed = await Testbed.CreateAsync(3);
        // Debug logging on the members, so that host 3's refused redials show up in their logs.
        var nodes = await StartNetworkAsync(bed, 3, ["--log-level", "debug"], ["--log-level", "debug"]);
        var (revoker, member, victim) = (nodes[0], nodes[1], nodes[2]);
        var clock = Stopwatch.StartNew();
        await UntilAsync(
            async () => (await Task.WhenAll(nodes.Select(n => SeesAllOnlineAsync(n, [.. nodes.Where(o => o != n)])))).All(x => x),
            TimeSpan.FromSeconds(30),
            "the three nodes to see each other online (full mesh)",
            () => PeerTablesAsync(nodes));
        output.WriteLine($"full mesh after {clock.Elapsed.TotalSeconds:F1} s");

        var bad = await revoker.RunCliAsync("revoke", "not-a-device");
        Assert.True(bad.ExitCode == 2, $"revoke of a malformed device ID should be a usage error: {ProcessRunner.Describe(bad)}");

        var status = await victim.RunCliAsync("status", "--json");
        Assert.True(status.ExitCode == 0, ProcessRunner.Describe(status));
        using (var json = System.Text.Json.JsonDocument.Parse(status.Stdout))
        {
            Assert.Equal(victim.Id, json.RootElement.GetProperty("id").GetString());
        }

        var logMarks = new[] { revoker.Output.Length, member.Output.Length };
        var revoke = await revoker.RunCliAsync("revoke", victim.Id);
        Assert.True(revoke.ExitCode == 0, ProcessRunner.Describe(revoke));
        clock.Restart();

        // Host 2 hears of it from host 1 (or from anyone who passes it on), not from the operator.
        await UntilAsync(
            async () => await IsShownRevokedAsync(revoker, victim) && await IsShownRevokedAsync(member, victim),
            TimeSpan.FromSeconds(30),
            "hosts 1 and 2 to show host 3 revoked and offline",
            () => PeerTablesAsync(nodes));
        output.WriteLine($"host 3 revoked: shown revoked and offline by hosts 1 and 2 after {clock.Elapsed.TotalSeconds:F1} s");

        // Host 3 still knows the secret, keeps dialling both (static peer and discovered address) and keeps announcing.
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < RefusalWatch)
        {
            foreach (var node in new[] { revoker, member })
            {
                Assert.True(await IsShownRevokedAsync(node, victim), $"host {node.Host} shows the revoked host 3 online or not revoked after {watch.Elapsed.TotalSeconds:F1} s:\n{await PeerTablesAsync(nodes)}");
            }

            Assert.DoesNotContain(await victim.PeersAsync(), p => p.Online);
            Assert.False(victim.HasExited, $"the revoked node exited: {victim.Output}");
            await Task.Delay(PollInterval);
        }

        // The control: revoking host 3 did not cut the members off from each other.
        Assert.True(await revoker.SeesOnlineAsync(member) && await member.SeesOnlineAsync(revoker), $"hosts 1 and 2 lost each other:\n{await PeerTablesAsync(nodes)}");

        // Host 3 did try again after the revocation and was turned away, so "stays out" is not vacuous.
        var afterRevoke = revoker.Output[logMarks[0]..] + member.Output[logMarks[1]..];
        var turnedAway = afterRevoke.Split('\n').Where(l => l.Contains("refused", StringComparison.Ordinal) && l.Contains("removed from the network", StringComparison.Ordinal)).ToList();
        output.WriteLine($"members' log after the revocation:\n{string.Join('\n', turnedAway.Take(6))}");
        Assert.NotEmpty(turnedAway);
    }

    private static async Task<bool> IsShownRevokedAsync(TestbedNode node, TestbedNode device) =>
        (await node.PeersAsync()).FirstOrDefault(p => p.Id == device.Id) is { Online: false, Revoked: true };

    private static List<string> RefusalLines(TestbedNode node, string address) =>
        [.. node.Output.Split('\n').Where(l => l.Contains(address, StringComparison.Ordinal)).Select(l => l.TrimEnd())];

}
