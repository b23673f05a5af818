using Microsoft.Data.Sqlite;
using Shoal.Core;
using Shoal.Core.Folder;

namespace Shoal.Storage.Tests;

public sealed class CatalogTests : IDisposable
{
    private static readonly DateTimeOffset Added = new DateTimeOffset(2025, 3, 4, 5, 6, 7, 891, TimeSpan.Zero).AddTicks(2345);

    private const string DropTablesAfterV1 = "DROP TABLE folder_local; DROP TABLE folder_remote; DROP TABLE folder_remote_state; DROP TABLE folder_events; DROP TABLE put_files;";

    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string DatabasePath => _dir.Combine("home", "catalog.db");

    [Fact]
    public void Open_NewDatabase_CreatesTheCurrentSchemaInWalMode()
    {
        using (Catalog.Open(DatabasePath))
        {
        }

        using var connection = OpenRaw();
        Assert.Equal(Catalog.SchemaVersion, Scalar<long>(connection, "PRAGMA user_version"));
        Assert.Equal(4, Catalog.SchemaVersion);
        Assert.Equal("wal", Scalar<string>(connection, "PRAGMA journal_mode"));
        var tables = new List<string>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name";
            using var reader = command.ExecuteReader();
            while (reader.Read()) tables.Add(reader.GetString(0));
        }

        Assert.Equal(
            [
                "download_chunks", "downloads", "folder_events", "folder_local", "folder_remote", "folder_remote_state",
                "local_files", "manifests", "peer_files", "peers", "put_files", "revoked_devices", "settings",
            ],
            tables);
    }

    [Fact]
    public void Open_VersionOneDatabase_MigratesToTheCurrentSchemaKeepingData()
    {
        using (var catalog = Catalog.Open(DatabasePath))
        {
            catalog.SetSetting("name", "old");
        }

        Downgrade(1, "DROP TABLE revoked_devices; " + DropTablesAfterV1);

        var device = DeviceId.FromBytes(Enumerable.Repeat((byte)3, 32).ToArray());
        using (var catalog = Catalog.Open(DatabasePath))
        {
            Assert.Equal("old", catalog.GetSetting("name"));
            Assert.True(catalog.RevokeDevice(device, Added));
            Assert.False(catalog.RevokeDevice(device, Added));
        }

        using (var catalog = Catalog.Open(DatabasePath))
        {
            Assert.Equal([device], catalog.ListRevokedDevices());
        }
    }

    [Fact]
    public void Open_VersionTwoDatabase_MigratesToTheCurrentSchemaKeepingData()
    {
        var content = new TestContent(9, 30, 40);
        var revoked = Ids.Device(7);
        using (var catalog = Catalog.Open(DatabasePath))
        {
            catalog.SetSetting("name", "old");
            catalog.UpsertLocalFile(NewLocalFile(content.Manifest, "/data/a.bin"));
            catalog.RevokeDevice(revoked, Added);
        }

        Downgrade(2, DropTablesAfterV1);

        var record = new FileRecord("a.bin", EntryKind.File, false, content.Manifest.Size, 1, 0x1a4, Ids.Device(1), VersionVector.Empty.Increment(1), 0, content.Manifest.Id, content.Manifest);
        using (var catalog = Catalog.Open(DatabasePath))
        {
            Assert.Equal("old", catalog.GetSetting("name"));
            Assert.Equal("/data/a.bin", catalog.GetLocalFile(content.Manifest.Id)?.Path);
            Assert.Equal([revoked], catalog.ListRevokedDevices());
            Assert.Equal(1, Assert.Single(catalog.SaveLocalEntries([new LocalEntry(record, 5)])).Sequence);
            catalog.ApplyRemoteIndex(Ids.Device(2), 1, false, [record]);
            catalog.AddFolderEvents([new FolderEvent(Added, "a.bin", Ids.Device(1), "laptop", FolderEventKind.Added, "")]);
        }

        using (var catalog = Catalog.Open(DatabasePath))
        {
            Assert.Equal([record.Path], catalog.ListLocalEntries().Select(e => e.Record.Path));
            Assert.Equal([Ids.Device(2)], catalog.FindRemoteHoldersOf(content.Manifest.Id));
            Assert.Single(catalog.ListFolderEvents(10));
        }

        using var connection = OpenRaw();
        Assert.Equal(4L, Scalar<long>(connection, "PRAGMA user_version"));
    }

    [Fact]
    public void Open_Existing_KeepsDataAndDoesNotMigrateAgain()
    {
        var content = new TestContent(1, 100, 200);
        var download = NewDownload(content.Manifest.Id);
        using (var catalog = Catalog.Open(DatabasePath))
        {
            catalog.SetSetting("name", "laptop");
            catalog.UpsertLocalFile(NewLocalFile(content.Manifest, "/data/a.bin"));
            catalog.UpsertDownload(download);
            catalog.MarkChunkVerified(content.Manifest.Id, 1);
        }

        using (var catalog = Catalog.Open(DatabasePath))
        {
            Assert.Equal("laptop", catalog.GetSetting("name"));
            Assert.Equal("/data/a.bin", catalog.GetLocalFile(content.Manifest.Id)?.Path);
            Assert.Equal(download, catalog.GetDownload(content.Manifest.Id));
            Assert.Equal([1], catalog.LoadVerifiedChunks(content.Manifest.Id, 2).SetIndices());
        }

        using var connection = OpenRaw();
        Assert.Equal(Catalog.SchemaVersion, Scalar<long>(connection, "PRAGMA user_version"));
    }

    [Fact]
    public void Open_SchemaNewerThanThisBuild_Throws()
    {
        using (Catalog.Open(DatabasePath))
        {
        }

        using (var connection = OpenRaw())
        using (var command = connection.CreateCommand())
        {
            command.CommandText = $"PRAGMA user_version = {Catalog.SchemaVersion + 1}";
            command.ExecuteNonQuery();
        }

        var error = Assert.Throws<NotSupportedException>(() => Catalog.Open(DatabasePath));
        Assert.Contains("newer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Manifest_RoundTrips()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var manifest = new TestContent(2, 10, 20, 30).Manifest;

        Assert.Null(catalog.GetManifest(manifest.Id));
        catalog.SaveManifest(manifest);
        catalog.SaveManifest(manifest);

        var loaded = catalog.GetManifest(manifest.Id);
        Assert.NotNull(loaded);
        Assert.Equal(manifest.Serialize(), loaded.Serialize());
    }

    [Fact]
    public void LocalFiles_RoundTrip()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var a = NewLocalFile(new TestContent(3, 50, 60).Manifest, "/data/a.bin") with { Name = "b-second.bin" };
        var b = NewLocalFile(new TestContent(4, 70).Manifest, "/data/b.bin") with { Name = "a-first.bin", Kind = LocalFileKind.Downloaded };

        Assert.Null(catalog.GetLocalFile(a.Id));
        catalog.UpsertLocalFile(a);
        catalog.UpsertLocalFile(b);

        AssertSame(a, catalog.GetLocalFile(a.Id));
        var listed = catalog.ListLocalFiles();
        Assert.Equal([b.Id, a.Id], listed.Select(f => f.Id));
        AssertSame(b, listed[0]);

        var moved = a with { Path = "/data/b.bin", LastWriteUtc = a.LastWriteUtc.AddSeconds(1), Kind = LocalFileKind.Downloaded };
        catalog.UpsertLocalFile(moved);
        AssertSame(moved, catalog.GetLocalFile(a.Id));
        Assert.Equal(new[] { a.Id, b.Id }.Order(), catalog.FindLocalFilesByPath("/data/b.bin").Select(f => f.Id));
        Assert.Empty(catalog.FindLocalFilesByPath("/data/a.bin"));

        Assert.True(catalog.RemoveLocalFile(a.Id));
        Assert.False(catalog.RemoveLocalFile(a.Id));
        Assert.Null(catalog.GetLocalFile(a.Id));
        Assert.Null(catalog.GetManifest(a.Id));
        Assert.Equal([b.Id], catalog.ListLocalFiles().Select(f => f.Id));
    }

    [Fact]
    public void RemoveLocalFile_KeepsTheManifestWhileADownloadUsesIt()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var file = NewLocalFile(new TestContent(5, 40).Manifest, "/data/c.bin");
        catalog.UpsertLocalFile(file);
        catalog.UpsertDownload(NewDownload(file.Id));

        catalog.RemoveLocalFile(file.Id);
        Assert.NotNull(catalog.GetManifest(file.Id));

        catalog.RemoveDownload(file.Id);
        Assert.Null(catalog.GetManifest(file.Id));
    }

    [Fact]
    public void UpsertLocalFile_WithAManifestOfAnotherFile_Throws()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var file = NewLocalFile(new TestContent(6, 40).Manifest, "/data/d.bin");

        Assert.Throws<ArgumentException>(() => catalog.UpsertLocalFile(file with { Id = Ids.File(1) }));
        Assert.Throws<ArgumentException>(() => catalog.UpsertLocalFile(file with { Size = 41 }));
        Assert.Empty(catalog.ListLocalFiles());
    }

    [Fact]
    public void Downloads_RoundTrip()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var first = NewDownload(Ids.File(1));
        var second = NewDownload(Ids.File(2)) with
        {
            CreatedAt = Added.AddMinutes(1),
            Status = DownloadStatus.Failed,
            Error = "disk full",
        };

        Assert.Null(catalog.GetDownload(first.Id));
        catalog.UpsertDownload(second);
        catalog.UpsertDownload(first);
        Assert.Equal(first, catalog.GetDownload(first.Id));
        Assert.Equal([first, second], catalog.ListDownloads());

        var completed = first with { Status = DownloadStatus.Completed, FinalPath = "/downloads/movie (1).mkv" };
        catalog.UpsertDownload(completed);
        Assert.Equal(completed, catalog.GetDownload(first.Id));

        Assert.True(catalog.RemoveDownload(first.Id));
        Assert.False(catalog.RemoveDownload(first.Id));
        Assert.Equal([second], catalog.ListDownloads());
    }

    [Fact]
    public void VerifiedChunks_RoundTripAndGoWithTheDownload()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var id = Ids.File(7);
        catalog.UpsertDownload(NewDownload(id));

        catalog.MarkChunkVerified(id, 0);
        catalog.MarkChunkVerified(id, 3);
        catalog.MarkChunkVerified(id, 3);
        catalog.MarkChunkVerified(id, 9);

        var verified = catalog.LoadVerifiedChunks(id, 5);
        Assert.Equal(5, verified.Length);
        Assert.Equal([0, 3], verified.SetIndices());

        catalog.UnmarkChunksVerified(id, [3, 4]);
        Assert.Equal([0], catalog.LoadVerifiedChunks(id, 5).SetIndices());

        catalog.RemoveDownload(id);
        Assert.True(catalog.LoadVerifiedChunks(id, 10).IsEmpty);

        catalog.UpsertDownload(NewDownload(id));
        Assert.True(catalog.LoadVerifiedChunks(id, 10).IsEmpty);
    }

    [Fact]
    public void MarkChunkVerified_WithoutADownload_Throws()
    {
        using var catalog = Catalog.Open(DatabasePath);

        Assert.Throws<InvalidOperationException>(() => catalog.MarkChunkVerified(Ids.File(8), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => catalog.MarkChunkVerified(Ids.File(8), -1));
    }

    [Fact]
    public async Task MarkChunkVerified_FromManyThreads_RecordsEveryChunk()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var ids = Enumerable.Range(0, 4).Select(Ids.File).ToArray();
        foreach (var id in ids) catalog.UpsertDownload(NewDownload(id));
        const int chunkCount = 500;
        using var start = new Barrier(8);

        var workers = Enumerable.Range(0, 8).Select(worker => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait();
                var id = ids[worker % ids.Length];
                for (var i = 0; i < chunkCount; i++)
                {
                    // Two workers per download, overlapping on every other chunk.
                    if (worker < ids.Length || i % 2 == 0) catalog.MarkChunkVerified(id, i);
                    if (i % 50 == 0) Assert.NotEmpty(catalog.ListDownloads());
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default));
        await Task.WhenAll(workers);

        foreach (var id in ids) Assert.True(catalog.LoadVerifiedChunks(id, chunkCount).IsComplete);
    }

    [Fact]
    public void PeerFiles_RoundTrip()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var (alice, bob) = (Ids.Device(1), Ids.Device(2));
        var (file, other) = (Ids.File(1), Ids.File(2));
        var some = new Bitfield(10);
        some.Set(2);
        some.Set(9);

        catalog.SetPeerFile(alice, file, "a.bin", 1000, 10, null);
        catalog.SetPeerFile(bob, file, "a-copy.bin", 1000, 10, some);
        catalog.SetPeerFile(bob, other, "b.bin", 5, 1, null);

        var all = catalog.ListPeerFiles();
        Assert.Equal(3, all.Count);
        var fromAlice = Assert.Single(all, r => r.Peer == alice);
        Assert.Equal((file, "a.bin", 1000L, 10), (fromAlice.File, fromAlice.Name, fromAlice.Size, fromAlice.ChunkCount));
        Assert.Null(fromAlice.Chunks);
        Assert.True(fromAlice.HasChunk(9));
        Assert.False(fromAlice.HasChunk(10));

        var holders = catalog.ListPeerFiles(file);
        Assert.Equal(2, holders.Count);
        var fromBob = Assert.Single(holders, r => r.Peer == bob);
        Assert.Equal("a-copy.bin", fromBob.Name);
        Assert.Equal(some.ToArray(), fromBob.Chunks?.ToArray());
        Assert.True(fromBob.HasChunk(2));
        Assert.False(fromBob.HasChunk(3));

        catalog.SetPeerFile(bob, file, "a-copy.bin", 1000, 10, null);
        Assert.Null(Assert.Single(catalog.ListPeerFiles(file), r => r.Peer == bob).Chunks);

        Assert.True(catalog.RemovePeerFile(alice, file));
        Assert.False(catalog.RemovePeerFile(alice, file));
        Assert.Equal([bob], catalog.ListPeerFiles(file).Select(r => r.Peer));

        Assert.Equal(2, catalog.ClearPeerFiles(bob));
        Assert.Empty(catalog.ListPeerFiles());
    }

    [Fact]
    public void SetPeerFiles_RecordsAWholeInventoryAndRollsBackOnABadEntry()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var peer = Ids.Device(1);
        catalog.SetPeerFiles([new PeerFileRecord(peer, Ids.File(1), "a", 10, 1, null), new PeerFileRecord(peer, Ids.File(2), "b", 20, 2, null)]);

        Assert.Throws<ArgumentException>(() => catalog.SetPeerFiles(
            [new PeerFileRecord(peer, Ids.File(3), "c", 30, 3, null), new PeerFileRecord(peer, Ids.File(4), "d", 10, 3, new Bitfield(4))]));

        Assert.Equal([Ids.File(1), Ids.File(2)], catalog.ListPeerFiles().Select(f => f.File).ToHashSet());
    }

    [Fact]
    public void SetPeerFile_WithABitfieldOfTheWrongLength_Throws()
    {
        using var catalog = Catalog.Open(DatabasePath);

        Assert.Throws<ArgumentException>(() => catalog.SetPeerFile(Ids.Device(1), Ids.File(1), "a", 10, 3, new Bitfield(4)));
        Assert.Empty(catalog.ListPeerFiles());
    }

    [Fact]
    public void Peers_RoundTrip()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var alice = new PeerRecord(Ids.Device(1), "alice", ["192.0.2.1:7070", "[2001:db8::1]:7070"], Added);
        var bob = new PeerRecord(Ids.Device(2), "bob", [], Added.AddDays(-1));

        Assert.Null(catalog.GetPeer(alice.Id));
        catalog.UpsertPeer(bob);
        catalog.UpsertPeer(alice);

        AssertSame(alice, catalog.GetPeer(alice.Id));
        Assert.Equal([alice.Id, bob.Id], catalog.ListPeers().Select(p => p.Id));
        AssertSame(bob, catalog.ListPeers()[1]);

        var moved = alice with { Addresses = ["198.51.100.7:7070"], LastSeen = Added.AddHours(1) };
        catalog.UpsertPeer(moved);
        AssertSame(moved, catalog.GetPeer(alice.Id));

        catalog.SetPeerFile(alice.Id, Ids.File(1), "a", 1, 1, null);
        Assert.True(catalog.RemovePeer(alice.Id));
        Assert.False(catalog.RemovePeer(alice.Id));
        Assert.Null(catalog.GetPeer(alice.Id));
        Assert.Empty(catalog.ListPeerFiles());
    }

    [Fact]
    public void Settings_RoundTrip()
    {
        using var catalog = Catalog.Open(DatabasePath);

        Assert.Null(catalog.GetSetting("listen"));
        catalog.SetSetting("listen", "0.0.0.0:7070");
        catalog.SetSetting("other", "");
        catalog.SetSetting("listen", "[::]:7070");

        Assert.Equal("[::]:7070", catalog.GetSetting("listen"));
        Assert.Equal("", catalog.GetSetting("other"));
    }

    [Fact]
    public void Dispose_ThenUse_Throws()
    {
        var catalog = Catalog.Open(DatabasePath);
        catalog.Dispose();
        catalog.Dispose();

        Assert.Throws<ObjectDisposedException>(() => catalog.GetSetting("x"));
        Assert.Throws<ObjectDisposedException>(() => catalog.RemoveDownload(Ids.File(1)));
    }

    private static LocalFile NewLocalFile(Manifest manifest, string path) => new(
        manifest.Id,
        System.IO.Path.GetFileName(path),
        manifest.Size,
        manifest,
        path,
        new DateTime(2024, 12, 31, 23, 59, 58, DateTimeKind.Utc).AddTicks(1234567),
        LocalFileKind.Shared,
        Added);

    private static DownloadRecord NewDownload(FileId id) =>
        new(id, "file.bin", 12345, "/downloads", $"/home/partial/{id}.part", DownloadStatus.Active, Added, null, null);

    /// <summary>Records holding a manifest or a list compare those by reference, so compare their content.</summary>
    private static void AssertSame(LocalFile expected, LocalFile? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Manifest.Serialize(), actual.Manifest.Serialize());
        Assert.Equal(expected, actual with { Manifest = expected.Manifest });
    }

    private static void AssertSame(PeerRecord expected, PeerRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Addresses, actual.Addresses);
        Assert.Equal(expected, actual with { Addresses = expected.Addresses });
    }

    /// <summary>Turns the database back into one at <paramref name="version"/>, as that version created it.</summary>
    private void Downgrade(int version, string dropTables)
    {
        using var connection = OpenRaw();
        using var command = connection.CreateCommand();
        command.CommandText = $"{dropTables} PRAGMA user_version = {version};";
        command.ExecuteNonQuery();
    }

    private SqliteConnection OpenRaw()
    {
        var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        connection.Open();
        return connection;
    }

    private static T Scalar<T>(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (T)command.ExecuteScalar()!;
    }
}

public sealed class CatalogPutTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_newest_record_wins_and_a_tombstone_is_kept()
    {
        using var catalog = Catalog.Open(_dir.Combine("home", "catalog.db"));
        var id = FileId.FromBytes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var a = DeviceId.FromBytes(new byte[32]);
        var b = DeviceId.FromBytes(Enumerable.Repeat((byte)0xff, 32).ToArray());
        var live = new PutFileRecord(id, "report.pdf", 1234, 3, 2, 100, a, Deleted: false);

        Assert.True(catalog.ApplyPutFile(live));
        Assert.False(catalog.ApplyPutFile(live));
        Assert.True(catalog.ApplyPutFile(live with { UpdatedTicks = 200, Deleted = true }));
        Assert.False(catalog.ApplyPutFile(live with { UpdatedTicks = 150 }));
        Assert.True(catalog.ApplyPutFile(live with { UpdatedTicks = 200, UpdatedBy = b, Replicas = 3 }));

        var stored = Assert.Single(catalog.ListPutFiles());
        Assert.Equal(live with { UpdatedTicks = 200, UpdatedBy = b, Replicas = 3 }, stored);
    }
}
