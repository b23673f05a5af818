using System.Diagnostics;
using Xunit.Abstractions;

using static Shoal.Integration.Tests.Testbed.TestbedNetwork;

namespace Shoal.Integration.Tests.Testbed;

/// <summary>
/// A testbed split into two LANs joined by a router (hosts 1-2 on 10.77.S.0/24, hosts 3-4 on 10.78.S.0/24): unicast
/// is routed between them, while broadcast and link-local multicast, and so LAN discovery, stay on their own LAN.
/// </summary>
public sealed class RoutedTestbedTests(ITestOutputHelper output)
{
    private const string ProbePort = "21099";

    /// <summary>
    /// <c>listen PORT LABEL</c> prints every datagram it gets (IPv4 and IPv6) and echoes it back prefixed with LABEL,
    /// until a "bye". <c>send PORT LABEL=ADDRESS,... CONTROL LOCAL,... REMOTE,...</c> first has every listener answer
    /// a unicast, then sends to each LOCAL and REMOTE destination every 100 ms until listener CONTROL echoed every
    /// LOCAL one, five rounds more, and a bye to every listener. Waiting on echoes, not on a clock, keeps the negative
    /// check honest: the other listeners were listening before the first broadcast and still after the last.
    /// </summary>
    private const string Probe = """
        import select, socket, sys, time

        # A new link's IPv6 link-local address is tentative (duplicate address detection) for a second or two, and
        # sending from it fails meanwhile: both sides ignore that and let the repeated rounds carry on.

        def sockets():
            v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            v4.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            return v4, v6

        def receive(socks, seconds):
            ready, _, _ = select.select(socks, [], [], max(seconds, 0))
            return [(s, *s.recvfrom(2048)) for s in ready]

        def listen(port, label):
            v4, v6 = sockets()
            v4.bind(("", port))
            v6.bind(("::", port))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for s, data, source in receive([v4, v6], deadline - time.monotonic()):
                    text = data.decode()
                    print(f"{text} from {source[0]}", flush=True)
                    try:
                        s.sendto(f"{label} {text}".encode(), source)
                    except OSError:
                        pass  # tentative: the sender repeats until it hears the echo
                    if text == "bye":
                        return
            sys.exit(f"{label}: no bye within 60 s")

        def send(port, listeners, control, local, remote):
            v4, v6 = sockets()
            def to(text, destination):
                family, _, _, _, address = socket.getaddrinfo(destination, port, type=socket.SOCK_DGRAM)[0]
                try:
                    (v6 if family == socket.AF_INET6 else v4).sendto(text.encode(), address)
                except OSError:
                    pass  # tentative: the next round retries
            def rounds(what, send_round, want, seconds, extra=0):
                heard, start = set(), time.monotonic()
                while not want <= heard or extra > 0:
                    if want <= heard:
                        extra -= 1
                    elif time.monotonic() - start > seconds:
                        sys.exit(f"{what}: heard only {sorted(heard)} in {seconds} s, wanted {sorted(want)}")
                    send_round()
                    next_round = time.monotonic() + 0.1
                    while time.monotonic() < next_round:
                        heard.update(data.decode() for _, data, _ in receive([v4, v6], next_round - time.monotonic()))
                print(f"{what}: {time.monotonic() - start:.2f} s", flush=True)
            rounds("every listener answered a unicast", lambda: [to("hello", a) for a in listeners.values()], {f"{l} hello" for l in listeners}, 5)
            rounds(f"{control} heard every broadcast", lambda: [to(f"to {d}", d) for d in local + remote], {f"{control} to {d}" for d in local}, 10, extra=5)
            rounds("every listener answered the bye", lambda: [to("bye", a) for a in listeners.values()], {f"{l} bye" for l in listeners}, 5)

        if sys.argv[1] == "listen":
            listen(int(sys.argv[2]), sys.argv[3])
        else:
            send(int(sys.argv[2]), dict(a.split("=") for a in sys.argv[3].split(",")), sys.argv[4], sys.argv[5].split(","), sys.argv[6].split(","))
        """;

    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    [RootFact]
    public async Task Two_lans_route_unicast_between_them_but_keep_broadcast_and_multicast_apart()
    {
        await using var bed = await Testbed.CreateAsync(4, split: 2);
        for (var host = 1; host <= bed.Hosts; host++)
        {
            var addresses = await bed.ExecAsync(host, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
            Assert.True(addresses.Stdout.Contains($" {bed.HostAddress(host)}/24 ", StringComparison.Ordinal), $"host {host} should have {bed.HostAddress(host)}: {ProcessRunner.Describe(addresses)}");
        }

        Assert.Equal($"10.78.{bed.Subnet}.2", bed.HostAddress(3));

        // Host 1 sends what discovery sends (limited and subnet broadcast, link-local multicast), and a directed
        // broadcast to the other LAN, which a router must not forward either.
        string[] local = ["255.255.255.255", $"10.77.{bed.Subnet}.255", "ff02::1%eth0"];
        string[] remote = [$"10.78.{bed.Subnet}.255"];
        var listeners = new[] { 2, 3 }.Select(h => bed.ExecAsync(h, ["python3", "-c", Probe, "listen", ProbePort, $"h{h}"], ProbeTimeout)).ToArray();
        var send = await bed.ExecAsync(
            1,
            ["python3", "-c", Probe, "send", ProbePort, $"h2={bed.HostAddress(2)},h3={bed.HostAddress(3)}", "h2", string.Join(',', local), string.Join(',', remote)],
            ProbeTimeout);
        Assert.True(send.ExitCode == 0, $"host 1's probe: {ProcessRunner.Describe(send)}");
        output.WriteLine(send.Stdout.TrimEnd());
        var (sameLan, otherLan) = (await listeners[0], await listeners[1]);
        Assert.True(sameLan.ExitCode == 0 && otherLan.ExitCode == 0, $"listeners: {ProcessRunner.Describe(sameLan)}\n{ProcessRunner.Describe(otherLan)}");
        output.WriteLine($"host 2 heard:\n{Summary(sameLan.Stdout)}\nhost 3 heard:\n{Summary(otherLan.Stdout)}");

        // Unicast crossed the router both ways (the echo came back), and host 3 listened from before to after.
        Assert.Contains($"hello from {bed.HostAddress(1)}", otherLan.Stdout, StringComparison.Ordinal);
        Assert.Contains($"bye from {bed.HostAddress(1)}", otherLan.Stdout, StringComparison.Ordinal);
        foreach (var destination in local)
        {
            Assert.Contains($"to {destination} from", sameLan.Stdout, StringComparison.Ordinal);
        }

        foreach (var destination in local.Concat(remote))
        {
            Assert.DoesNotContain($"to {destination} from", otherLan.Stdout, StringComparison.Ordinal);
        }
    }

    [RootFact]
    public async Task Lan_discovery_finds_members_on_the_same_lan_only()
    {
        await using var bed = await Testbed.CreateAsync(4, split: 2);
        var firstHome = bed.Directory.Combine("h1");
        await InitAsync(bed, 1, firstHome, joinCode: null);
        var first = await bed.StartNodeAsync(1, firstHome);
        var invite = await first.RunCliAsync("invite");
        Assert.True(invite.ExitCode == 0, ProcessRunner.Describe(invite));

        // The invite's address is forgotten: host 1 is reachable through the router, so only discovery is left to
        // bring nodes together, and it must not cross the router.
        var joiners = await Task.WhenAll(Enumerable.Range(2, 3).Select(async host =>
        {
            var home = bed.Directory.Combine($"h{host}");
            await InitAsync(bed, host, home, invite.Stdout.Trim());
            TestbedTests.ForgetPeers(home);
            return await bed.StartNodeAsync(host, home);
        }));
        TestbedNode[] nodes = [first, .. joiners];
        var clock = Stopwatch.StartNew();
        await UntilAsync(
            async () => await nodes[0].SeesOnlineAsync(nodes[1]) && await nodes[1].SeesOnlineAsync(nodes[0])
                && await nodes[2].SeesOnlineAsync(nodes[3]) && await nodes[3].SeesOnlineAsync(nodes[2]),
            TimeSpan.FromSeconds(30),
            "hosts 1 and 2, and hosts 3 and 4, to find each other",
            () => PeerTablesAsync(nodes));
        var found = clock.Elapsed;
        output.WriteLine($"both LANs meshed {found.TotalSeconds:F1} s after every joiner was up");

        // Every node announced when it started, so a crossing announcement would have been heard by now; watch as
        // long again (at least 3 s) for a late one.
        var watch = found > TimeSpan.FromSeconds(3) ? found : TimeSpan.FromSeconds(3);
        while (clock.Elapsed < found + watch)
        {
            foreach (var node in nodes)
            {
                var lan = node.Host <= bed.Split;
                var crossed = nodes.Where(o => (o.Host <= bed.Split) != lan).ToList();
                var peers = await node.PeersAsync();
                Assert.False(
                    peers.Any(p => p.Online && crossed.Any(o => o.Id == p.Id)),
                    $"host {node.Host} reached a node on the other LAN:\n{await PeerTablesAsync(nodes)}");
            }

            await Task.Delay(PollInterval);
        }

        output.WriteLine($"no node reached the other LAN in {watch.TotalSeconds:F1} s more");
    }

    private static string Summary(string heard) =>
        string.Join('\n', heard.Split('\n', StringSplitOptions.RemoveEmptyEntries).GroupBy(l => l).Select(g => $"  {g.Count()} x {g.Key}"));
}
