using System.Net;
using System.Text;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Net;
using Shoal.Net.Tracking;
using Shoal.Tracker.Storage;

namespace Shoal.Tracker.Tests;

/// <summary>A real tracker on loopback, on each backend, spoken to with real signed requests.</summary>
[Collection(BackendCollection.Name)]
public sealed class TrackerHostTests(PostgresFixture postgres) : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    private readonly ManualTime _time = new();
    private readonly HttpClient _http = new();
    private readonly NetworkMembership _network = NetworkMembership.CreateNew();
    private readonly List<IDisposable> _owned = [];

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Announce_then_files_holders_and_peers(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var tracker = await StartAsync(database);
        var seeder = Node();
        var downloader = Node();
        var file = TestFiles.NewId();

        var seeded = await AnnounceAsync(
            tracker,
            seeder,
            new AnnounceRequest("seeder", 7420, ["192.168.1.5:7420", "0.0.0.0:7420", "[FD00::5]:7420"], true, [new(file, "Movie.mkv", 5000, 5)]));
        Assert.Equal(new AnnounceResponse(30, "127.0.0.1:7420", NeedsReset: false), seeded with { Relays = null });
        Assert.Empty(seeded.Relays!);

        // First contact without a reset: registered and applied, and told to send everything.
        _time.Advance(TimeSpan.FromSeconds(1));
        var partial = Convert.ToBase64String(TestFiles.Bits(5, 0, 2));
        var downloading = await AnnounceAsync(tracker, downloader, new AnnounceRequest("downloader", 7421, [], false, [new(file, "Movie.mkv", 5000, 5, partial)]));
        Assert.True(downloading.NeedsReset);

        var files = await PostAsync(tracker, downloader, TrackerPaths.Files, new FilesRequest("movie"), TrackerJson.Default.FilesRequest, TrackerJson.Default.FilesResponse);
        Assert.Equal([new TrackedFile(file, "Movie.mkv", 5000, 5, Holders: 2, Replicas: 1)], files.Files);

        var holders = await PostAsync(tracker, seeder, TrackerPaths.Holders, new HoldersRequest(file.ToUpperInvariant()), TrackerJson.Default.HoldersRequest, TrackerJson.Default.HoldersResponse);
        Assert.Equal(files.Files[0], holders.File);
        Assert.Collection(
            holders.Holders,
            holder => Assert.Equal((downloader.Device, "downloader", partial, "127.0.0.1:7421"), (holder.Device, holder.Name, holder.Chunks, Assert.Single(holder.Addresses))),
            holder =>
            {
                Assert.Equal((seeder.Device, "seeder", (string?)null), (holder.Device, holder.Name, holder.Chunks));
                Assert.Equal(["127.0.0.1:7420", "192.168.1.5:7420", "[fd00::5]:7420"], holder.Addresses);
            });

        var peers = await PostAsync(tracker, seeder, TrackerPaths.Peers, new PeersRequest(), TrackerJson.Default.PeersRequest, TrackerJson.Default.PeersResponse);
        Assert.Equal([(downloader.Device, "downloader")], peers.Peers.Select(p => (p.Device, p.Name)));
        var listed = await PostAsync(tracker, downloader, TrackerPaths.Peers, new PeersRequest([seeder.Device.ToUpperInvariant()]), TrackerJson.Default.PeersRequest, TrackerJson.Default.PeersResponse);
        Assert.Equal([seeder.Device], listed.Peers.Select(p => p.Device));

        var left = await PostAsync(tracker, downloader, TrackerPaths.Leave, new LeaveRequest(), TrackerJson.Default.LeaveRequest, TrackerJson.Default.LeaveResponse);
        Assert.True(left.Removed);
        files = await PostAsync(tracker, seeder, TrackerPaths.Files, new FilesRequest(null), TrackerJson.Default.FilesRequest, TrackerJson.Default.FilesResponse);
        Assert.Equal([new TrackedFile(file, "Movie.mkv", 5000, 5, Holders: 1, Replicas: 1)], files.Files);
        peers = await PostAsync(tracker, seeder, TrackerPaths.Peers, new PeersRequest(), TrackerJson.Default.PeersRequest, TrackerJson.Default.PeersResponse);
        Assert.Empty(peers.Peers);
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Health_needs_no_signature_and_reports_the_schema(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var tracker = await StartAsync(database);
        var body = await _http.GetStringAsync(new Uri(tracker.Url, TrackerPaths.Health));
        Assert.Equal($$"""{"status":"ok","schema":{{SqlTrackerStore.SchemaVersion}}}""", body);
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Unsigned_tampered_replayed_and_stale_requests_are_refused_and_change_nothing(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var tracker = await StartAsync(database);
        var node = Node();
        var (kept, added) = (TestFiles.NewId(), TestFiles.NewId());
        await AnnounceAsync(tracker, node, new AnnounceRequest("n", 7420, [], true, [new(kept, "kept", 10, 1)]));
        var before = await SnapshotAsync(tracker, node);

        var removal = node.Sign(tracker.Url, TrackerPaths.Announce, new AnnounceRequest("n", 7420, [], true, []), TrackerJson.Default.AnnounceRequest);
        var tampered = removal with { Body = [.. removal.Body] };
        tampered.Body[^2] ^= 1;
        await AssertRefusedAsync(tracker, node, before, tampered, HttpStatusCode.Unauthorized, "bad signature");

        foreach (var header in TrackerHeaders.All)
        {
            await AssertRefusedAsync(tracker, node, before, removal.Without(header), HttpStatusCode.Unauthorized, $"the {header} header is missing");
        }

        var wrongHost = node.Sign(new Uri($"http://tracker.example:{tracker.Url.Port}/"), TrackerPaths.Announce, removal.Body) with { Uri = new Uri(tracker.Url, TrackerPaths.Announce) };
        await AssertRefusedAsync(tracker, node, before, wrongHost, HttpStatusCode.Unauthorized, "bad signature");

        var ahead = new ManualTime();
        ahead.Advance(TrackerRequestVerifier.MaxClockSkew + TimeSpan.FromSeconds(1));
        var stale = Node(clock: ahead).Sign(tracker.Url, TrackerPaths.Announce, removal.Body);
        await AssertRefusedAsync(tracker, node, before, stale, HttpStatusCode.Unauthorized, "stale request");

        // Replayed after the node moved on: the old request must not undo the newer one.
        var add = node.Sign(tracker.Url, TrackerPaths.Announce, new AnnounceRequest("n", 7420, [], false, [new(added, "added", 10, 1)]), TrackerJson.Default.AnnounceRequest);
        Assert.Equal(HttpStatusCode.OK, (await add.SendAsync(_http)).Status);
        var drop = node.Sign(tracker.Url, TrackerPaths.Announce, new AnnounceRequest("n", 7420, [], false, [new(added, "", 0, 1, Removed: true)]), TrackerJson.Default.AnnounceRequest);
        Assert.Equal(HttpStatusCode.OK, (await drop.SendAsync(_http)).Status);
        await AssertRefusedAsync(tracker, node, before, add, HttpStatusCode.Conflict, "replayed request");
        await AssertRefusedAsync(tracker, node, before, drop, HttpStatusCode.Conflict, "replayed request");
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Malformed_and_oversized_bodies_are_refused_and_change_nothing(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var tracker = await StartAsync(database);
        var node = Node();
        await AnnounceAsync(tracker, node, new AnnounceRequest("n", 7420, [], true, [new(TestFiles.NewId(), "kept", 10, 1)]));
        var before = await SnapshotAsync(tracker, node);

        await AssertRefusedAsync(tracker, node, before, node.Sign(tracker.Url, TrackerPaths.Announce, "{not json"), HttpStatusCode.BadRequest, "malformed JSON");
        await AssertRefusedAsync(tracker, node, before, node.Sign(tracker.Url, TrackerPaths.Announce, "null"), HttpStatusCode.BadRequest, "malformed JSON");
        await AssertRefusedAsync(tracker, node, before, node.Sign(tracker.Url, TrackerPaths.Announce, ""), HttpStatusCode.BadRequest, "malformed JSON");
        await AssertRefusedAsync(tracker, node, before, node.Sign(tracker.Url, TrackerPaths.Announce, """{"name":"n","listenPort":"x"}"""), HttpStatusCode.BadRequest, "$.listenPort");
        await AssertRefusedAsync(tracker, node, before, node.Sign(tracker.Url, TrackerPaths.Leave, "[]"), HttpStatusCode.BadRequest, "malformed JSON");

        var huge = Encoding.UTF8.GetBytes($$"""{"name":"{{new string('x', TrackerLimits.MaxBodyBytes)}}"}""");
        var oversized = node.Sign(tracker.Url, TrackerPaths.Announce, huge);
        await AssertRefusedAsync(tracker, node, before, oversized, HttpStatusCode.RequestEntityTooLarge, "too large");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await oversized.SendAsync(_http, chunked: true)).Status);
        Assert.Equal(before, await SnapshotAsync(tracker, node));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Invalid_fields_are_refused_naming_the_field_and_change_nothing(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var tracker = await StartAsync(database);
        var node = Node();
        await AnnounceAsync(tracker, node, new AnnounceRequest("n", 7420, [], true, [new(TestFiles.NewId(), "kept", 10, 1)]));
        var before = await SnapshotAsync(tracker, node);
        var id = TestFiles.NewId();

        string Announce(string? name = "\"n\"", string port = "7420", string addresses = "[]", string files = "[]") =>
            $$"""{"name":{{name ?? "null"}},"listenPort":{{port}},"addresses":{{addresses}},"reset":true,"files":{{files}}}""";
        string File(string fields) => $$"""[{"id":"{{id}}","name":"f","size":10,"chunkCount":10,{{fields}}}]""";
        var tooMany = string.Join(',', Enumerable.Repeat("""{"id":"x","removed":true}""", TrackerLimits.MaxFilesPerAnnounce + 1));

        (string Path, string Json, string Field)[] cases =
        [
            (TrackerPaths.Announce, Announce(port: "0"), "listenPort"),
            (TrackerPaths.Announce, Announce(port: "65536"), "listenPort"),
            (TrackerPaths.Announce, Announce(name: null), "name is missing"),
            (TrackerPaths.Announce, Announce(name: $"\"{new string('n', TrackerLimits.MaxNameLength + 1)}\""), "name: longer than"),
            (TrackerPaths.Announce, Announce(name: "\"bell\\u0007\""), "name: contains control characters"),
            (TrackerPaths.Announce, Announce(addresses: """["nonsense"]"""), "addresses[0]"),
            (TrackerPaths.Announce, Announce(addresses: """["10.0.0.1:7420","10.0.0.1"]"""), "addresses[1]"),
            (TrackerPaths.Announce, Announce(addresses: """["::1:7420"]"""), "addresses[0]"),
            (TrackerPaths.Announce, Announce(addresses: """["10.0.0.1:0"]"""), "addresses[0]"),
            (TrackerPaths.Announce, Announce(addresses: $"[\"10.0.0.1:{new string('1', TrackerLimits.MaxAddressLength)}\"]"), "addresses[0]: longer than"),
            (TrackerPaths.Announce, Announce(addresses: $"[{string.Join(',', Enumerable.Range(1, 9).Select(i => $"\"10.0.0.{i}:7420\""))}]"), "addresses: at most 8"),
            (TrackerPaths.Announce, Announce(files: tooMany.Insert(0, "[") + "]"), "files: at most 10000"),
            (TrackerPaths.Announce, Announce(files: """[{"id":"not-an-id","name":"f","size":1,"chunkCount":1}]"""), "files[0].id"),
            (TrackerPaths.Announce, Announce(files: $$"""[{"id":"{{id}}","removed":true},{"id":"{{id}}","name":"","size":1,"chunkCount":1}]"""), "files[1].name is empty"),
            (TrackerPaths.Announce, Announce(files: $$"""[{"id":"{{id}}","size":1,"chunkCount":1}]"""), "files[0].name is missing"),
            (TrackerPaths.Announce, Announce(files: """[null]"""), "files[0] is missing"),
            (TrackerPaths.Announce, Announce(files: File("\"chunks\":null").Replace("\"size\":10", "\"size\":-1", StringComparison.Ordinal)), "files[0].size"),
            (TrackerPaths.Announce, Announce(files: File("\"chunks\":null").Replace("\"size\":10", "\"size\":0", StringComparison.Ordinal)), "files[0].chunkCount"),
            (TrackerPaths.Announce, Announce(files: File("\"chunks\":null").Replace("\"chunkCount\":10", "\"chunkCount\":0", StringComparison.Ordinal)), "files[0].chunkCount"),
            (TrackerPaths.Announce, Announce(files: File("\"chunks\":null").Replace("\"chunkCount\":10", $"\"chunkCount\":{TrackerLimits.MaxChunkCount + 1}", StringComparison.Ordinal)), "files[0].chunkCount"),
            (TrackerPaths.Announce, Announce(files: File("\"chunks\":\"AAAA\"")), "files[0].chunks"),
            (TrackerPaths.Announce, Announce(files: File("\"chunks\":\"!!!=\"")), "files[0].chunks"),
            (TrackerPaths.Announce, Announce(files: File($"\"chunks\":\"{Convert.ToBase64String([0xFF, 0xFF])}\"")), "files[0].chunks: has bits set past the last chunk"),
            (TrackerPaths.Files, $$"""{"query":"{{new string('q', TrackerLimits.MaxQueryLength + 1)}}"}""", "query: longer than"),
            (TrackerPaths.Files, """{"query":"a\nb"}""", "query: contains control characters"),
            (TrackerPaths.Holders, """{"file":"not-an-id"}""", "file: not a file id"),
            (TrackerPaths.Holders, "{}", "file: not a file id"),
            (TrackerPaths.Peers, """{"devices":["zz"]}""", "devices[0]"),
            (TrackerPaths.Peers, $"{{\"devices\":[{string.Join(',', Enumerable.Repeat($"\"{node.Device}\"", TrackerLimits.MaxResults + 1))}]}}", "devices: at most"),
        ];

        foreach (var (path, json, field) in cases)
        {
            await AssertRefusedAsync(tracker, node, before, node.Sign(tracker.Url, path, json), HttpStatusCode.BadRequest, field);
        }
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Another_network_sees_nothing_of_the_first(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var tracker = await StartAsync(database);
        var member = Node();
        var file = TestFiles.NewId();
        await AnnounceAsync(tracker, member, new AnnounceRequest("member", 7420, [], true, [new(file, "secret plans.txt", 10, 1)]));

        var outsider = Node(NetworkMembership.CreateNew());
        await AnnounceAsync(tracker, outsider, new AnnounceRequest("outsider", 7421, [], true, []));
        var files = await PostAsync(tracker, outsider, TrackerPaths.Files, new FilesRequest(null), TrackerJson.Default.FilesRequest, TrackerJson.Default.FilesResponse);
        Assert.Empty(files.Files);
        var holders = await PostAsync(tracker, outsider, TrackerPaths.Holders, new HoldersRequest(file), TrackerJson.Default.HoldersRequest, TrackerJson.Default.HoldersResponse);
        Assert.Null(holders.File);
        Assert.Empty(holders.Holders);
        var peers = await PostAsync(tracker, outsider, TrackerPaths.Peers, new PeersRequest([member.Device]), TrackerJson.Default.PeersRequest, TrackerJson.Default.PeersResponse);
        Assert.Empty(peers.Peers);

        peers = await PostAsync(tracker, member, TrackerPaths.Peers, new PeersRequest(), TrackerJson.Default.PeersRequest, TrackerJson.Default.PeersResponse);
        Assert.Empty(peers.Peers);
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task A_restarted_tracker_keeps_its_registrations(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        var node = Node();
        var file = TestFiles.NewId();
        await using (var tracker = await StartAsync(database))
        {
            await AnnounceAsync(tracker, node, new AnnounceRequest("n", 7420, [], true, [new(file, "f", 10, 1)]));
        }

        await using var restarted = await StartAsync(database);
        var files = await PostAsync(restarted, Node(), TrackerPaths.Files, new FilesRequest(null), TrackerJson.Default.FilesRequest, TrackerJson.Default.FilesResponse);
        Assert.Equal([file], files.Files.Select(f => f.Id));
        Assert.False((await AnnounceAsync(restarted, node, new AnnounceRequest("n", 7420, [], false, []))).NeedsReset);
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task A_registration_lapses_after_three_intervals_without_an_announce(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var tracker = await StartAsync(database);
        var node = Node();
        var other = Node();
        await AnnounceAsync(tracker, node, new AnnounceRequest("n", 7420, [], true, [new(TestFiles.NewId(), "f", 10, 1)]));

        _time.Advance((3 * Interval) - TimeSpan.FromMilliseconds(1));
        var files = await PostAsync(tracker, other, TrackerPaths.Files, new FilesRequest(null), TrackerJson.Default.FilesRequest, TrackerJson.Default.FilesResponse);
        Assert.Single(files.Files);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        files = await PostAsync(tracker, other, TrackerPaths.Files, new FilesRequest(null), TrackerJson.Default.FilesRequest, TrackerJson.Default.FilesResponse);
        Assert.Empty(files.Files);
        Assert.True((await AnnounceAsync(tracker, node, new AnnounceRequest("n", 7420, [], false, []))).NeedsReset);
    }

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
        _http.Dispose();
    }

    private Task<TrackerHost> StartAsync(TestDatabase database) => TrackerHost.StartAsync(
        new TrackerOptions
        {
            Listen = "127.0.0.1:0",
            Database = database.Database,
            Interval = Interval,
            Time = _time,
            LoggerFactory = NullLoggerFactory.Instance,
        },
        default);

    private TestNode Node(NetworkMembership? network = null, TimeProvider? clock = null)
    {
        var node = new TestNode(network ?? _network, clock ?? _time);
        _owned.Add(node);
        return node;
    }

    private async Task<TResponse> PostAsync<TRequest, TResponse>(
        TrackerHost tracker, TestNode node, string path, TRequest request, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType) =>
        (await node.Sign(tracker.Url, path, request, requestType).SendAsync(_http)).Read(responseType);

    private Task<AnnounceResponse> AnnounceAsync(TrackerHost tracker, TestNode node, AnnounceRequest request) =>
        PostAsync(tracker, node, TrackerPaths.Announce, request, TrackerJson.Default.AnnounceRequest, TrackerJson.Default.AnnounceResponse);

    private async Task AssertRefusedAsync(TrackerHost tracker, TestNode member, string before, SignedRequest request, HttpStatusCode status, string reason)
    {
        var answer = await request.SendAsync(_http);
        Assert.True(answer.Status == status, $"{request.Uri.AbsolutePath} answered {(int)answer.Status} {answer.Body}, expected {(int)status} ({reason})");
        Assert.Contains(reason, answer.Error, StringComparison.Ordinal);
        Assert.Equal(before, await SnapshotAsync(tracker, member));
    }

    /// <summary>Everything the members of <paramref name="member"/>'s network could learn from the store, as text.</summary>
    private async Task<string> SnapshotAsync(TrackerHost tracker, TestNode member)
    {
        var observer = member.InStore.Peer();
        var now = _time.GetUtcNow();
        var text = new StringBuilder();
        foreach (var file in await tracker.Store.FilesAsync(observer.Sign(now), null, TrackerLimits.MaxResults, now, default))
        {
            text.AppendLine(file.ToString());
            foreach (var holder in (await tracker.Store.HoldersAsync(observer.Sign(now), file.Id, TrackerLimits.MaxResults, now, default)).Holders)
            {
                text.AppendLine($"  {holder.Device} {holder.Name} {string.Join(',', holder.Addresses)} {holder.Chunks}");
            }
        }

        foreach (var peer in await tracker.Store.PeersAsync(observer.Sign(now), null, TrackerLimits.MaxResults, now, default))
        {
            text.AppendLine($"{peer.Device} {peer.Name} {string.Join(',', peer.Addresses)} {peer.LastSeen}");
        }

        return text.ToString();
    }
}
