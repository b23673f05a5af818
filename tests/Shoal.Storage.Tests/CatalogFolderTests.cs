using Shoal.Core;
using Shoal.Core.Folder;

namespace Shoal.Storage.Tests;

public sealed class CatalogFolderTests : IDisposable
{
    private static readonly DateTimeOffset Now = new DateTimeOffset(2025, 6, 7, 8, 9, 10, TimeSpan.Zero).AddTicks(1234);

    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string DatabasePath => _dir.Combine("home", "catalog.db");

    [Fact]
    public void LocalEntries_RoundTripEveryField()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var file = new LocalEntry(
            NewFile("docs/report.pdf", new TestContent(1, 100, 50).Manifest) with
            {
                ModifiedUnixNs = -123_456_789,
                Permissions = 0x1ff,
                Version = VersionVector.FromCounters([new(ulong.MaxValue, ulong.MaxValue), new(1, 2)]),
            },
            ulong.MaxValue - 1);
        var directory = new LocalEntry(NewDirectory("docs"), 42);
        var deleted = new LocalEntry(NewFile("old.txt", null) with { Deleted = true, Content = default, Size = 0 }, 0);

        Assert.Null(catalog.GetLocalEntry(file.Record.Path));
        var stored = catalog.SaveLocalEntries([file, directory, deleted]);

        Assert.Equal([1L, 2L, 3L], stored.Select(r => r.Sequence));
        AssertSame(file.Record with { Sequence = 1 }, stored[0]);
        AssertSame(file with { Record = stored[0] }, catalog.GetLocalEntry(file.Record.Path));
        AssertSame(directory with { Record = stored[1] }, catalog.GetLocalEntry("docs"));
        AssertSame(deleted with { Record = stored[2] }, catalog.GetLocalEntry("old.txt"));

        var listed = catalog.ListLocalEntries();
        Assert.Equal(["docs", "docs/report.pdf", "old.txt"], listed.Select(e => e.Record.Path));
        AssertSame(file with { Record = stored[0] }, listed[1]);
    }

    [Fact]
    public void SaveLocalEntries_AssignsTheNextSequencesInListOrder()
    {
        using var catalog = Catalog.Open(DatabasePath);
        Assert.Equal(0, catalog.LocalSequence);
        Assert.Empty(catalog.ListLocalSince(0, 10));

        catalog.SaveLocalEntries([Entry(NewDirectory("c") with { Sequence = 99 }), Entry(NewDirectory("a")), Entry(NewDirectory("b"))]);
        var second = catalog.SaveLocalEntries([Entry(NewDirectory("d")), Entry(NewDirectory("a") with { Permissions = 0x1c0 })]);

        Assert.Equal(5, catalog.LocalSequence);
        Assert.Equal([4L, 5L], second.Select(r => r.Sequence));
        Assert.Equal(5, catalog.GetLocalEntry("a")?.Record.Sequence);
        Assert.Equal(0x1c0u, catalog.GetLocalEntry("a")?.Record.Permissions);

        // "a" moved to the end when it changed, so its old number is gone.
        Assert.Equal([("c", 1L), ("b", 3L)], catalog.ListLocalSince(0, 2).Select(r => (r.Path, r.Sequence)));
        Assert.Equal([("d", 4L), ("a", 5L)], catalog.ListLocalSince(3, 2).Select(r => (r.Path, r.Sequence)));
        Assert.Equal(["a"], catalog.ListLocalSince(4, 10).Select(r => r.Path));
        Assert.Empty(catalog.ListLocalSince(5, 10));
        Assert.Empty(catalog.ListLocalSince(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => catalog.ListLocalSince(0, -1));

        Assert.Empty(catalog.SaveLocalEntries([]));
        Assert.Equal(5, catalog.LocalSequence);
    }

    [Fact]
    public void SaveLocalEntries_ManyEntriesAtOnce_AreAllStoredOrNoneIs()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var entries = Enumerable.Range(0, 10_000).Select(i => Entry(NewDirectory($"dir/{i:D5}"))).ToArray();

        var stored = catalog.SaveLocalEntries(entries);

        Assert.Equal(Enumerable.Range(1, 10_000).Select(i => (long)i), stored.Select(r => r.Sequence));
        Assert.Equal(10_000, catalog.LocalSequence);
        Assert.Equal(10_000, catalog.ListLocalEntries().Count);

        var manifest = new TestContent(2, 10).Manifest;
        var mismatched = NewFile("bad.bin", manifest) with { Content = Ids.File(1) };
        Assert.Throws<ArgumentException>(() => catalog.SaveLocalEntries([Entry(NewDirectory("new")), Entry(mismatched)]));
        Assert.Throws<ArgumentException>(() => catalog.SaveLocalEntries([Entry(NewFile("bad.bin", manifest) with { Size = 11 })]));
        Assert.Null(catalog.GetLocalEntry("new"));
        Assert.Equal(10_000, catalog.LocalSequence);
    }

    [Fact]
    public void FindLocalByContent_ReturnsLiveFilesOnly()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var manifest = new TestContent(3, 20).Manifest;
        catalog.SaveLocalEntries(
        [
            Entry(NewFile("b/copy.bin", manifest)),
            Entry(NewFile("a/original.bin", manifest)),
            Entry(NewFile("gone.bin", manifest) with { Deleted = true }),
            Entry(NewFile("other.bin", new TestContent(4, 20).Manifest)),
            Entry(NewDirectory("a")),
        ]);

        Assert.Equal(["a/original.bin", "b/copy.bin"], catalog.FindLocalByContent(manifest.Id).Select(e => e.Record.Path));
        Assert.Empty(catalog.FindLocalByContent(Ids.File(5)));
    }

    [Fact]
    public void FolderEpoch_IsNonzero63BitsAndStableAcrossReopen()
    {
        ulong epoch;
        using (var catalog = Catalog.Open(DatabasePath))
        {
            epoch = catalog.FolderEpoch;
            Assert.NotEqual(0UL, epoch);
            Assert.True(epoch <= long.MaxValue);
            Assert.Equal(epoch, catalog.FolderEpoch);
        }

        using (var catalog = Catalog.Open(DatabasePath))
        {
            Assert.Equal(epoch, catalog.FolderEpoch);
        }

        using var recreated = Catalog.Open(_dir.Combine("other", "catalog.db"));
        Assert.NotEqual(epoch, recreated.FolderEpoch);
    }

    [Fact]
    public void ApplyRemoteIndex_UpsertsRecordsAndTracksTheHighestSequence()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var (alice, bob) = (Ids.Device(1), Ids.Device(2));
        var manifest = new TestContent(5, 30).Manifest;
        var withManifest = NewFile("a.bin", manifest) with { Sequence = 7, ModifiedBy = alice };
        var withoutManifest = NewFile("b.bin", manifest) with { Sequence = 3, Manifest = null };
        Assert.Null(catalog.GetRemoteIndexState(alice));

        catalog.ApplyRemoteIndex(alice, 11, reset: false, [withManifest, withoutManifest]);

        Assert.Equal((11UL, 7L), catalog.GetRemoteIndexState(alice));
        AssertSame(withManifest, catalog.GetRemoteEntry(alice, "a.bin"));
        AssertSame(withoutManifest, catalog.GetRemoteEntry(alice, "b.bin"));
        Assert.Null(catalog.GetRemoteEntry(bob, "a.bin"));

        // A later message of the same epoch updates a path and raises the sequence; a lower one does not lower it.
        var edited = withoutManifest with { Size = 0, Content = default, Deleted = true, Sequence = 9 };
        catalog.ApplyRemoteIndex(alice, 11, reset: false, [edited]);
        catalog.ApplyRemoteIndex(alice, 11, reset: false, [NewDirectory("dir") with { Sequence = 8 }]);
        Assert.Equal((11UL, 9L), catalog.GetRemoteIndexState(alice));
        AssertSame(edited, catalog.GetRemoteEntry(alice, "b.bin"));

        // An epoch of bob's with a high bit set survives the signed storage.
        catalog.ApplyRemoteIndex(bob, ulong.MaxValue, reset: true, [withoutManifest with { Sequence = 1 }]);
        Assert.Equal((ulong.MaxValue, 1L), catalog.GetRemoteIndexState(bob));

        var atB = catalog.ListRemoteEntries("b.bin");
        Assert.Equal(new[] { alice, bob }.Order(), atB.Select(e => e.Device));
        AssertSame(withoutManifest with { Sequence = 1 }, Assert.Single(atB, e => e.Device == bob).Record);
        Assert.Empty(catalog.ListRemoteEntries("missing"));

        var all = catalog.ListRemoteEntries();
        Assert.Equal(
            [("a.bin", alice), .. new[] { alice, bob }.Order().Select(d => ("b.bin", d)), ("dir", alice)],
            all.Select(e => (e.Record.Path, e.Device)));
        AssertSame(withManifest, all[0].Record);
    }

    [Fact]
    public void ApplyRemoteIndex_WithReset_ForgetsWhatWasHeldOfThatDeviceOnly()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var (alice, bob) = (Ids.Device(1), Ids.Device(2));
        catalog.ApplyRemoteIndex(alice, 1, reset: false, [NewDirectory("x") with { Sequence = 50 }, NewDirectory("y") with { Sequence = 51 }]);
        catalog.ApplyRemoteIndex(bob, 2, reset: false, [NewDirectory("x") with { Sequence = 5 }]);

        catalog.ApplyRemoteIndex(alice, 3, reset: true, [NewDirectory("z") with { Sequence = 2 }]);

        Assert.Equal((3UL, 2L), catalog.GetRemoteIndexState(alice));
        Assert.Null(catalog.GetRemoteEntry(alice, "x"));
        Assert.Null(catalog.GetRemoteEntry(alice, "y"));
        Assert.NotNull(catalog.GetRemoteEntry(alice, "z"));
        Assert.Equal((2UL, 5L), catalog.GetRemoteIndexState(bob));
        Assert.NotNull(catalog.GetRemoteEntry(bob, "x"));

        catalog.ApplyRemoteIndex(alice, 4, reset: true, []);
        Assert.Equal((4UL, 0L), catalog.GetRemoteIndexState(alice));
        Assert.Equal([bob], catalog.ListRemoteEntries().Select(e => e.Device));
    }

    [Fact]
    public void ApplyRemoteIndex_WithABadRecord_ChangesNothing()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var alice = Ids.Device(1);
        catalog.ApplyRemoteIndex(alice, 1, reset: false, [NewDirectory("x") with { Sequence = 1 }]);
        var manifest = new TestContent(6, 10).Manifest;

        Assert.Throws<ArgumentException>(() => catalog.ApplyRemoteIndex(
            alice, 2, reset: true, [NewDirectory("y") with { Sequence = 1 }, NewFile("bad", manifest) with { Content = Ids.File(1) }]));

        Assert.Equal((1UL, 1L), catalog.GetRemoteIndexState(alice));
        Assert.Equal(["x"], catalog.ListRemoteEntries().Select(e => e.Record.Path));
    }

    [Fact]
    public void ApplyRemoteIndex_AFullIndexMessage_IsStored()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var alice = Ids.Device(1);
        var records = Enumerable.Range(1, 4096).Select(i => NewDirectory($"d/{i:D4}") with { Sequence = i }).ToArray();

        catalog.ApplyRemoteIndex(alice, 1, reset: true, records);

        Assert.Equal((1UL, 4096L), catalog.GetRemoteIndexState(alice));
        Assert.Equal(4096, catalog.ListRemoteEntries().Count);
    }

    [Fact]
    public void FindRemoteHoldersOf_ListsDevicesWithALiveFileOfThatContent()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var (alice, bob, carol) = (Ids.Device(1), Ids.Device(2), Ids.Device(3));
        var manifest = new TestContent(7, 10).Manifest;
        var file = NewFile("a.bin", manifest) with { Manifest = null };
        catalog.ApplyRemoteIndex(alice, 1, reset: false, [file, file with { Path = "copy.bin" }]);
        catalog.ApplyRemoteIndex(bob, 1, reset: false, [file with { Deleted = true }]);
        catalog.ApplyRemoteIndex(carol, 1, reset: false, [file with { Path = "b.bin" }, NewFile("c.bin", new TestContent(8, 10).Manifest)]);

        Assert.Equal(new[] { alice, carol }.Order(), catalog.FindRemoteHoldersOf(manifest.Id));
        Assert.Empty(catalog.FindRemoteHoldersOf(Ids.File(9)));
    }

    [Fact]
    public void ForgetRemoteIndex_RemovesTheRecordsAndStateOfThatDevice()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var (alice, bob) = (Ids.Device(1), Ids.Device(2));
        catalog.ApplyRemoteIndex(alice, 1, reset: false, [NewDirectory("x") with { Sequence = 1 }]);
        catalog.ApplyRemoteIndex(bob, 1, reset: false, [NewDirectory("x") with { Sequence = 1 }]);

        catalog.ForgetRemoteIndex(alice);
        catalog.ForgetRemoteIndex(Ids.Device(3));

        Assert.Null(catalog.GetRemoteIndexState(alice));
        Assert.Null(catalog.GetRemoteEntry(alice, "x"));
        Assert.NotNull(catalog.GetRemoteIndexState(bob));
        Assert.Equal([bob], catalog.ListRemoteEntries("x").Select(e => e.Device));
    }

    [Fact]
    public void FolderEvents_AreListedNewestFirstAndTrimmedToTheNewest()
    {
        using var catalog = Catalog.Open(DatabasePath);
        var first = new FolderEvent(Now.ToOffset(TimeSpan.FromHours(2)), "a.txt", Ids.Device(1), "laptop", FolderEventKind.Added, "");
        var second = new FolderEvent(Now.AddSeconds(1), "a.txt", Ids.Device(2), "desktop", FolderEventKind.Conflict, "kept both: a.sync-conflict.txt");
        Assert.Empty(catalog.ListFolderEvents(10));

        catalog.AddFolderEvents([first, second]);
        catalog.AddFolderEvents([]);

        Assert.Equal([second, first], catalog.ListFolderEvents(10));
        Assert.Equal([second], catalog.ListFolderEvents(1));
        Assert.Empty(catalog.ListFolderEvents(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => catalog.ListFolderEvents(-1));

        var many = Enumerable.Range(0, Catalog.FolderEventsKept).Select(i => first with { Path = $"f{i}", Kind = FolderEventKind.Modified }).ToArray();
        catalog.AddFolderEvents(many);
        var kept = catalog.ListFolderEvents(int.MaxValue);
        Assert.Equal(Catalog.FolderEventsKept, kept.Count);
        Assert.Equal(many.Reverse(), kept);

        catalog.AddFolderEvents([second]);
        kept = catalog.ListFolderEvents(int.MaxValue);
        Assert.Equal(Catalog.FolderEventsKept, kept.Count);
        Assert.Equal([second, many[^1]], kept.Take(2));
        Assert.Equal(many[1], kept[^1]);
    }

    [Fact]
    public async Task FolderWrites_FromManyThreads_AreAllRecorded()
    {
        using var catalog = Catalog.Open(DatabasePath);
        const int workers = 6;
        const int batches = 20;
        const int batchSize = 25;
        using var start = new Barrier(workers);

        var tasks = Enumerable.Range(0, workers).Select(worker => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait();
                for (var b = 0; b < batches; b++)
                {
                    var paths = Enumerable.Range(0, batchSize).Select(i => $"w{worker}/b{b}/{i}").ToArray();
                    catalog.SaveLocalEntries([.. paths.Select(p => Entry(NewDirectory(p)))]);
                    catalog.ApplyRemoteIndex(Ids.Device(worker), 1, reset: false, [.. paths.Select((p, i) => NewDirectory(p) with { Sequence = (b * batchSize) + i + 1 })]);
                    catalog.AddFolderEvents([new FolderEvent(Now, paths[0], Ids.Device(worker), "w", FolderEventKind.Added, "")]);
                    Assert.NotEmpty(catalog.ListLocalSince(catalog.LocalSequence - 1, 10));
                    Assert.NotEqual(0UL, catalog.FolderEpoch);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default));
        await Task.WhenAll(tasks);

        const int total = workers * batches * batchSize;
        Assert.Equal(total, catalog.LocalSequence);
        Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), catalog.ListLocalSince(0, int.MaxValue).Select(r => r.Sequence));
        Assert.Equal(total, catalog.ListRemoteEntries().Count);
        for (var worker = 0; worker < workers; worker++)
        {
            Assert.Equal((1UL, (long)(batches * batchSize)), catalog.GetRemoteIndexState(Ids.Device(worker)));
        }

        Assert.Equal(workers * batches, catalog.ListFolderEvents(int.MaxValue).Count);
    }

    private static LocalEntry Entry(FileRecord record) => new(record, 1);

    private static FileRecord NewFile(string path, Manifest? manifest) => new(
        path,
        EntryKind.File,
        false,
        manifest?.Size ?? 0,
        Now.ToUnixTimeMilliseconds() * 1_000_000,
        0x1a4,
        Ids.Device(9),
        VersionVector.Empty.Increment(7),
        0,
        manifest?.Id ?? default,
        manifest);

    private static FileRecord NewDirectory(string path) => NewFile(path, null) with { Kind = EntryKind.Directory, Permissions = 0x1ed };

    /// <summary>A manifest is compared by reference, so compare its bytes.</summary>
    private static void AssertSame(FileRecord expected, FileRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Manifest?.Serialize(), actual.Manifest?.Serialize());
        Assert.Equal(expected, actual with { Manifest = expected.Manifest });
    }

    private static void AssertSame(LocalEntry expected, LocalEntry? actual)
    {
        Assert.NotNull(actual);
        AssertSame(expected.Record, actual.Record);
        Assert.Equal(expected.Inode, actual.Inode);
    }
}
