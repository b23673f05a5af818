using Shoal.Net.Tracking;
using Shoal.Tracker.Storage;

namespace Shoal.Tracker.Tests;

/// <summary>The store on each backend, with the same test bodies: whatever passes on SQLite passes on PostgreSQL.</summary>
[Collection(BackendCollection.Name)]
public sealed class StoreTests(PostgresFixture postgres)
{
    private static readonly DateTimeOffset Now = ManualTime.Start;
    private static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(90);

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Announce_registers_the_device_until_its_registration_expires(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var b = a.Peer();
        var file = TestFiles.NewId();

        Assert.False(await AnnounceAsync(store, a, Now, reset: true, Complete(file, "a.txt")));
        Assert.True(await AnnounceAsync(store, a, Now.AddSeconds(10), reset: false));

        var peer = Assert.Single(await PeersAsync(store, b, Now.AddSeconds(20)));
        Assert.Equal(a.Hex, peer.Device);
        Assert.Equal(["10.0.0.1:7420", "[fd00::1]:7420"], peer.Addresses);
        Assert.Equal(Now.AddSeconds(10).ToUnixTimeMilliseconds(), peer.LastSeen);
        Assert.Equal(file, Assert.Single(await FilesAsync(store, b, Now.AddSeconds(20))).Id);

        // Expired at the last announce plus the lifetime, before the sweeper has run: invisible at once.
        var expiry = Now.AddSeconds(10) + Lifetime;
        Assert.Single(await PeersAsync(store, b, expiry.AddMilliseconds(-1)));
        Assert.Empty(await PeersAsync(store, b, expiry));
        Assert.Empty(await FilesAsync(store, b, expiry));
        Assert.Equal(new SweepResult(1, 0), await store.SweepAsync(expiry, default));
        Assert.Equal(new SweepResult(0, 0), await store.SweepAsync(expiry, default));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task A_device_returning_after_expiry_holds_only_what_it_announces_again(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var old = TestFiles.NewId();
        var again = TestFiles.NewId();
        await AnnounceAsync(store, a, Now, reset: true, Complete(old, "old.txt"));

        // Not swept yet: the old holdings must not come back to life with the registration.
        Assert.False(await AnnounceAsync(store, a, Now + Lifetime, reset: false, Complete(again, "again.txt")));
        Assert.Equal([again], (await FilesAsync(store, a.Peer(), Now + Lifetime)).Select(f => f.Id));

        // Swept: the same.
        await AnnounceAsync(store, a, Now, reset: true, Complete(old, "old.txt"));
        Assert.Equal(1, (await store.SweepAsync(Now + Lifetime, default)).Devices);
        Assert.False(await AnnounceAsync(store, a, Now + Lifetime, reset: false, Complete(again, "again.txt")));
        Assert.Equal([again], (await FilesAsync(store, a.Peer(), Now + Lifetime)).Select(f => f.Id));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task A_reset_replaces_the_holdings_and_deltas_change_them(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var b = a.Peer();
        var (f1, f2, f3, f4) = (TestFiles.NewId(), TestFiles.NewId(), TestFiles.NewId(), TestFiles.NewId());

        await AnnounceAsync(store, a, Now, reset: true, Complete(f1, "1"), Complete(f2, "2"));
        Assert.Equal(["1", "2"], await NamesAsync(store, b));

        await AnnounceAsync(store, a, Now, reset: false, Complete(f3, "3"), HoldingChange.Removal(f1));
        Assert.Equal(["2", "3"], await NamesAsync(store, b));

        await AnnounceAsync(store, a, Now, reset: false, Partial(f2, "2", 4, 1));
        Assert.Equal(Convert.ToBase64String(TestFiles.Bits(4, 1)), Assert.Single((await HoldersAsync(store, b, f2)).Holders).Chunks);

        await AnnounceAsync(store, a, Now, reset: true, Complete(f4, "4"));
        Assert.Equal(["4"], await NamesAsync(store, b));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task The_last_entry_for_a_file_in_one_announce_counts(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var file = TestFiles.NewId();

        await AnnounceAsync(store, a, Now, reset: false, Complete(file, "first"), HoldingChange.Removal(file));
        Assert.Empty(await NamesAsync(store, a.Peer()));

        await AnnounceAsync(store, a, Now, reset: false, HoldingChange.Removal(file), Complete(file, "first"), Complete(file, "second"));
        Assert.Equal(["second"], await NamesAsync(store, a.Peer()));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Large_announces_are_applied_whole(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var files = Enumerable.Range(0, 250).Select(i => Complete(TestFiles.NewId(), $"file {i:D3}")).ToList();
        await AnnounceAsync(store, a, Now, reset: true, [.. files]);
        Assert.Equal(250, (await FilesAsync(store, a.Peer(), Now, limit: TrackerLimits.MaxResults)).Count);

        var added = Enumerable.Range(250, 120).Select(i => Complete(TestFiles.NewId(), $"file {i:D3}"));
        await AnnounceAsync(store, a, Now, reset: false, [.. files.Take(150).Select(f => HoldingChange.Removal(f.File)), .. added]);
        var names = await NamesAsync(store, a.Peer());
        Assert.Equal(Enumerable.Range(150, 220).Select(i => $"file {i:D3}"), names);
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Search_ignores_case_and_takes_wildcards_literally(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        string[] names = ["Holiday Photos.ZIP", "100%_done.txt", "100 done.txt", @"back\slash.txt", "backslash.txt", "ÜBER.txt", "zeta.bin"];
        await AnnounceAsync(store, a, Now, reset: true, [.. names.Select(n => Complete(TestFiles.NewId(), n))]);
        var b = a.Peer();

        Assert.Equal(["Holiday Photos.ZIP"], await NamesAsync(store, b, "photos.zip"));
        Assert.Equal(["100%_done.txt"], await NamesAsync(store, b, "%"));
        Assert.Equal(["100%_done.txt"], await NamesAsync(store, b, "_"));
        Assert.Equal(["100%_done.txt"], await NamesAsync(store, b, "0%_D"));
        Assert.Equal([@"back\slash.txt"], await NamesAsync(store, b, @"\"));
        Assert.Equal(["ÜBER.txt"], await NamesAsync(store, b, "über"));
        Assert.Empty(await NamesAsync(store, b, "nothing"));

        // By name, ignoring case; the same order on every backend.
        string[] all = ["100 done.txt", "100%_done.txt", @"back\slash.txt", "backslash.txt", "Holiday Photos.ZIP", "zeta.bin", "ÜBER.txt"];
        Assert.Equal(all, await NamesAsync(store, b, null));
        Assert.Equal(all, await NamesAsync(store, b, ""));
        Assert.Equal(all[..2], (await FilesAsync(store, b, Now, limit: 2)).Select(f => f.Name));
        Assert.Equal([@"back\slash.txt"], (await FilesAsync(store, b, Now, "slash", limit: 1)).Select(f => f.Name));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task A_file_is_named_by_its_latest_holder_and_found_by_any_holders_name(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var b = a.Peer();
        var file = TestFiles.NewId();
        await AnnounceAsync(store, a, Now, reset: true, Complete(file, "report.pdf"));
        await AnnounceAsync(store, b, Now.AddSeconds(1), reset: true, Complete(file, "Final.pdf"));

        var found = Assert.Single(await FilesAsync(store, a, Now.AddSeconds(2), "REPORT"));
        Assert.Equal(new TrackedFile(file, "Final.pdf", 4000, 4, Holders: 2, Replicas: 2), found);
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Replicas_count_the_live_holders_of_the_rarest_chunk(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var (b, c, d) = (a.Peer(), a.Peer(), a.Peer());
        var observer = a.Peer();
        var file = TestFiles.NewId();

        await AnnounceAsync(store, a, Now, reset: true, Complete(file, "f"));
        await AnnounceAsync(store, b, Now.AddSeconds(30), reset: true, Partial(file, "f", 4, 0, 1));
        await AnnounceAsync(store, c, Now.AddSeconds(30), reset: true, Partial(file, "f", 4, 1, 2));

        // Chunks 0..3 are held by a+b, a+b+c, a+c, a.
        var summary = Assert.Single(await FilesAsync(store, observer, Now.AddSeconds(31)));
        Assert.Equal((3, 1), (summary.Holders, summary.Replicas));

        await AnnounceAsync(store, d, Now.AddSeconds(30), reset: true, Partial(file, "f", 4, 3));
        summary = Assert.Single(await FilesAsync(store, observer, Now.AddSeconds(31)));
        Assert.Equal((4, 2), (summary.Holders, summary.Replicas));
        Assert.Equal(summary, (await HoldersAsync(store, observer, file, Now.AddSeconds(31))).File);

        // a expires: b, b+c, c, d.
        summary = Assert.Single(await FilesAsync(store, observer, Now + Lifetime));
        Assert.Equal((3, 1), (summary.Holders, summary.Replicas));

        // b goes: chunk 0 is on nobody live, but the file is still listed while anyone holds some of it.
        await store.LeaveAsync(b.Sign(Now + Lifetime), Now + Lifetime, default);
        summary = Assert.Single(await FilesAsync(store, observer, Now + Lifetime));
        Assert.Equal((2, 0), (summary.Holders, summary.Replicas));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Holders_are_the_live_devices_with_their_addresses_and_chunks(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var (b, gone) = (a.Peer(), a.Peer());
        var file = TestFiles.NewId();
        await AnnounceAsync(store, gone, Now.AddSeconds(-100), reset: true, Complete(file, "f"));
        await AnnounceAsync(store, a, Now, reset: true, Complete(file, "f"));
        await AnnounceAsync(store, b, Now.AddSeconds(1), reset: true, Partial(file, "f", 4, 2));

        var answer = await HoldersAsync(store, a, file, Now.AddSeconds(2));
        Assert.Equal(new TrackedFile(file, "f", 4000, 4, 2, 1), answer.File);
        Assert.Collection(
            answer.Holders,
            holder =>
            {
                Assert.Equal((b.Hex, NameOf(b), Convert.ToBase64String(TestFiles.Bits(4, 2))), (holder.Device, holder.Name, holder.Chunks));
                Assert.Equal(["10.0.0.1:7420", "[fd00::1]:7420"], holder.Addresses);
            },
            holder => Assert.Equal((a.Hex, (string?)null), (holder.Device, holder.Chunks)));

        var unknown = await HoldersAsync(store, a, TestFiles.NewId(), Now);
        Assert.Null(unknown.File);
        Assert.Empty(unknown.Holders);

        // A popular file's answer lists a page of holders; its summary still counts every one.
        var page = await HoldersAsync(store, a, file, Now.AddSeconds(2), limit: 1);
        Assert.Equal(b.Hex, Assert.Single(page.Holders).Device);
        Assert.Equal(answer.File, page.File);
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Peers_are_other_live_devices_most_recently_seen_first(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var (b, c, gone) = (a.Peer(), a.Peer(), a.Peer());
        await AnnounceAsync(store, gone, Now.AddSeconds(-100), reset: true);
        await AnnounceAsync(store, a, Now, reset: true);
        await AnnounceAsync(store, b, Now.AddSeconds(1), reset: true);
        await AnnounceAsync(store, c, Now.AddSeconds(2), reset: true);
        var at = Now.AddSeconds(3);

        Assert.Equal([c.Hex, b.Hex], (await PeersAsync(store, a, at)).Select(p => p.Device));
        Assert.Equal([c.Hex], (await store.PeersAsync(a.Sign(at), null, 1, at, default)).Select(p => p.Device));
        Assert.Equal([c.Hex, b.Hex, a.Hex], (await PeersAsync(store, new TestDevice(a.Network), at)).Select(p => p.Device));

        // Listed: only those, and never the sender itself or a device that expired.
        string[] listed = [b.Hex, a.Hex, gone.Hex, new TestDevice().Hex, b.Hex];
        var peer = Assert.Single(await store.PeersAsync(a.Sign(at), listed, 1, at, default));
        Assert.Equal((b.Hex, NameOf(b)), (peer.Device, peer.Name));
        Assert.Empty(await store.PeersAsync(a.Sign(at), [], 100, at, default));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Leave_forgets_the_device_and_what_it_held(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var b = a.Peer();
        await AnnounceAsync(store, a, Now, reset: true, Complete(TestFiles.NewId(), "f"));

        Assert.True(await store.LeaveAsync(a.Sign(Now), Now, default));
        Assert.Empty(await PeersAsync(store, b, Now));
        Assert.Empty(await FilesAsync(store, b, Now));
        Assert.False(await store.LeaveAsync(a.Sign(Now), Now, default));

        // Coming back is first contact again, with nothing held.
        Assert.False(await AnnounceAsync(store, a, Now, reset: false));
        Assert.Empty(await FilesAsync(store, b, Now));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Networks_see_nothing_of_each_other(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var b = a.Peer();
        var file = TestFiles.NewId();
        await AnnounceAsync(store, a, Now, reset: true, Complete(file, "shared.txt"));
        await AnnounceAsync(store, b, Now, reset: true);

        // The same device in another network is another registration; that network is empty.
        var other = a.In(TestDevice.NewNetwork());
        var stranger = other.Peer();
        Assert.False(await AnnounceAsync(store, other, Now, reset: false));
        Assert.Empty(await FilesAsync(store, stranger, Now));
        Assert.Equal([other.Hex], (await PeersAsync(store, stranger, Now)).Select(p => p.Device));
        Assert.Empty(await store.PeersAsync(stranger.Sign(Now), [b.Hex], 10, Now, default));
        Assert.Null((await HoldersAsync(store, stranger, file, Now)).File);

        // Its reset and leave touch only its own network.
        await AnnounceAsync(store, other, Now, reset: true);
        await store.LeaveAsync(other.Sign(Now), Now, default);
        Assert.Equal(["shared.txt"], await NamesAsync(store, b));
        Assert.Equal([a.Hex], (await PeersAsync(store, b, Now)).Select(p => p.Device));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task A_used_nonce_is_refused_and_the_request_changes_nothing(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var b = a.Peer();
        var file = TestFiles.NewId();
        var signed = a.Sign(Now);
        await store.AnnounceAsync(signed, Registration(a), true, [Complete(file, "f")], Now, Now + Lifetime, default);

        await Assert.ThrowsAsync<ReplayedRequestException>(() => store.AnnounceAsync(signed, Registration(a), true, [], Now, Now + Lifetime, default));
        await Assert.ThrowsAsync<ReplayedRequestException>(() => store.LeaveAsync(signed, Now, default));
        Assert.Equal(["f"], await NamesAsync(store, b));

        var read = b.Sign(Now);
        await store.FilesAsync(read, null, 10, Now, default);
        await Assert.ThrowsAsync<ReplayedRequestException>(() => store.FilesAsync(read, null, 10, Now, default));
        await Assert.ThrowsAsync<ReplayedRequestException>(() => store.HoldersAsync(read, file, 10, Now, default));
        await Assert.ThrowsAsync<ReplayedRequestException>(() => store.PeersAsync(read, null, 10, Now, default));

        // Nonces are per device: another device may happen to pick the same one.
        await store.FilesAsync(new TrackerSender(a.Id, a.Hex, a.Network, read.Nonce, Now), null, 10, Now, default);
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Sweep_deletes_expired_registrations_and_nonces_too_old_to_replay(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var b = a.Peer();
        await AnnounceAsync(store, a, Now, reset: true, Complete(TestFiles.NewId(), "f"));
        await AnnounceAsync(store, b, Now.AddSeconds(60), reset: true);

        Assert.Equal(new SweepResult(Devices: 1, Nonces: 0), await store.SweepAsync(Now + Lifetime, default));

        // A nonce is kept for twice the clock skew a request may have after it was signed.
        var nonceExpiry = Now.AddSeconds(60) + (2 * TrackerRequestVerifier.MaxClockSkew);
        Assert.Equal(new SweepResult(Devices: 1, Nonces: 1), await store.SweepAsync(nonceExpiry.AddMilliseconds(-1), default));
        Assert.Equal(new SweepResult(Devices: 0, Nonces: 1), await store.SweepAsync(nonceExpiry, default));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Migrating_again_changes_nothing_and_keeps_the_data(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        var a = new TestDevice();
        var opened = await Task.WhenAll(OpenAsync(database), OpenAsync(database));
        await AnnounceAsync(opened[0], a, Now, reset: true, Complete(TestFiles.NewId(), "kept"));
        foreach (var store in opened) await store.DisposeAsync();

        await using var again = await OpenAsync(database);
        Assert.Equal(SqlTrackerStore.SchemaVersion, await again.ReadSchemaVersionAsync(default));
        Assert.Equal(["kept"], await NamesAsync(again, a.Peer()));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task A_file_is_listed_only_while_a_live_holder_announces_it_and_swept_after(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var store = await OpenAsync(database);
        var a = new TestDevice();
        var b = a.Peer();
        var c = a.Peer();
        var (expired, left, renamed) = (TestFiles.NewId(), TestFiles.NewId(), TestFiles.NewId());
        await AnnounceAsync(store, a, Now, reset: true, Complete(expired, "expired"));
        await AnnounceAsync(store, b, Now.AddSeconds(60), reset: true, Complete(left, "left"), Complete(renamed, "old name"));
        await AnnounceAsync(store, c, Now.AddSeconds(60), reset: true, Complete(left, "left"));
        await AnnounceAsync(store, b, Now.AddSeconds(61), reset: false, Complete(renamed, "new name"));
        Assert.True(await store.LeaveAsync(c.Sign(Now.AddSeconds(62)), Now.AddSeconds(62), default));
        await AnnounceAsync(store, b, Now.AddSeconds(63), reset: false, Complete(left, "left") with { Removed = true });

        var at = Now + Lifetime;
        Assert.Equal(["new name"], (await FilesAsync(store, c, at)).Select(f => f.Name));
        Assert.Empty(await FilesAsync(store, c, at, "old"));
        Assert.Equal(4, (await FileRowsAsync(database, a.Network)).Count);

        await store.SweepAsync(at, default);
        Assert.Equal([(renamed, "new name")], await FileRowsAsync(database, a.Network));
        Assert.Equal(["new name"], (await FilesAsync(store, c, at)).Select(f => f.Name));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Migrating_from_version_1_lists_the_files_already_held(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        var a = new TestDevice();
        var (one, two) = (TestFiles.NewId(), TestFiles.NewId());
        await using (var dialect = SqlDialect.For(database.Database))
        {
            await dialect.InitializeAsync(default);
            await TrackerSchema.MigrateAsync(dialect, new ManualTime(), 1, default);
            await ExecuteAsync(
                dialect,
                $"""
                INSERT INTO devices (network, device, name, addresses, registered_at, last_seen, expires_at)
                VALUES ('{a.Network}', '{a.Hex}', 'a', '', 0, 0, {(Now + Lifetime).ToUnixTimeMilliseconds()});
                INSERT INTO holdings (network, file, device, name, name_key, size, chunk_count, chunks, updated_at)
                VALUES ('{a.Network}', '{one}', '{a.Hex}', 'One.txt', 'one.txt', 4000, 4, NULL, 0),
                    ('{a.Network}', '{two}', '{a.Hex}', 'Two.txt', 'two.txt', 4000, 4, NULL, 0)
                """);
        }

        await using var store = await OpenAsync(database);
        Assert.Equal(SqlTrackerStore.SchemaVersion, await store.ReadSchemaVersionAsync(default));
        Assert.Equal(["One.txt", "Two.txt"], await NamesAsync(store, a.Peer()));
        Assert.Equal(["Two.txt"], await NamesAsync(store, a.Peer(), "TWO"));
    }

    [Theory]
    [SqliteData]
    [PostgresData]
    public async Task Two_stores_on_one_database_share_everything(Backend backend)
    {
        using var database = await TestDatabase.CreateAsync(backend, postgres);
        await using var first = await OpenAsync(database);
        await using var second = await OpenAsync(database);
        var a = new TestDevice();
        var file = TestFiles.NewId();
        var signed = a.Sign(Now);
        await first.AnnounceAsync(signed, Registration(a), true, [Complete(file, "f")], Now, Now + Lifetime, default);

        Assert.Equal(["f"], await NamesAsync(second, a.Peer()));
        Assert.Equal(a.Hex, Assert.Single((await HoldersAsync(second, a.Peer(), file)).Holders).Device);
        await Assert.ThrowsAsync<ReplayedRequestException>(() => second.LeaveAsync(signed, Now, default));
        Assert.True(await second.LeaveAsync(a.Sign(Now), Now, default));
        Assert.Empty(await NamesAsync(first, a.Peer()));
    }

    private static Task<SqlTrackerStore> OpenAsync(TestDatabase database) => SqlTrackerStore.OpenAsync(database.Database, new ManualTime(), default);

    private static async Task<List<(string File, string Name)>> FileRowsAsync(TestDatabase database, string network)
    {
        await using var dialect = SqlDialect.For(database.Database);
        await using var connection = await dialect.OpenAsync(default);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT file, name FROM files WHERE network = '{network}' ORDER BY name";
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string, string)>();
        while (await reader.ReadAsync()) rows.Add((reader.GetString(0), reader.GetString(1)));
        return rows;
    }

    private static async Task ExecuteAsync(SqlDialect dialect, string sql)
    {
        await using var connection = await dialect.OpenAsync(default);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    internal static string NameOf(TestDevice device) => "node " + device.Hex[..8];

    internal static DeviceRegistration Registration(TestDevice device) => new(NameOf(device), ["10.0.0.1:7420", "[fd00::1]:7420"]);

    internal static HoldingChange Complete(string file, string name) => new(file, name, 4000, 4, null);

    internal static HoldingChange Partial(string file, string name, int chunkCount, params int[] chunks) =>
        new(file, name, chunkCount * 1000L, chunkCount, TestFiles.Bits(chunkCount, chunks));

    private static Task<bool> AnnounceAsync(ITrackerStore store, TestDevice device, DateTimeOffset at, bool reset, params HoldingChange[] changes) =>
        store.AnnounceAsync(device.Sign(at), Registration(device), reset, changes, at, at + Lifetime, default);

    private static Task<IReadOnlyList<TrackedFile>> FilesAsync(ITrackerStore store, TestDevice asker, DateTimeOffset at, string? query = null, int limit = 100) =>
        store.FilesAsync(asker.Sign(at), query, limit, at, default);

    private static async Task<IReadOnlyList<string>> NamesAsync(ITrackerStore store, TestDevice asker, string? query = null) =>
        [.. (await FilesAsync(store, asker, Now, query, TrackerLimits.MaxResults)).Select(f => f.Name)];

    private static Task<HoldersResponse> HoldersAsync(ITrackerStore store, TestDevice asker, string file, DateTimeOffset? at = null, int limit = 100) =>
        store.HoldersAsync(asker.Sign(at ?? Now), file, limit, at ?? Now, default);

    private static Task<IReadOnlyList<TrackedPeer>> PeersAsync(ITrackerStore store, TestDevice asker, DateTimeOffset at) =>
        store.PeersAsync(asker.Sign(at), null, 100, at, default);
}
