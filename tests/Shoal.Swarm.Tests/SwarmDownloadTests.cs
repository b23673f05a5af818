using System.Collections.Concurrent;
using Shoal.Core;
using Shoal.Testing;

namespace Shoal.Swarm.Tests;

public sealed class SwarmDownloadTests
{
    private static readonly TimeSpan Timeout = FakePeer.SafetyTimeout;

    [Fact]
    public async Task TwoFullPeersDeliverTheWholeFile()
    {
        var file = TestFile.Varied(40);
        var sink = new MemorySink(file);
        var ledger = new BufferLedger();
        var a = new FakePeer("a", file) { Ledger = ledger };
        var b = new FakePeer("b", file) { Ledger = ledger };
        var download = NewDownload(file, sink);
        var verified = new ConcurrentBag<int>();
        download.ChunkVerified += verified.Add;
        download.AddOrUpdatePeer(a, Bitfield.Full(file.ChunkCount));
        download.AddOrUpdatePeer(b, Bitfield.Full(file.ChunkCount));

        await download.RunAsync(CancellationToken.None).WaitAsync(Timeout);

        AssertComplete(file, sink, a, b);
        Assert.Equal(Enumerable.Range(0, file.ChunkCount), verified.Order());
        ledger.AssertEachDisposedOnce();
        var progress = download.Snapshot();
        Assert.True(progress.IsComplete);
        Assert.Equal(file.Manifest.Size, progress.VerifiedBytes);
        Assert.Equal(file.Manifest.Size, progress.TotalBytes);
        Assert.Equal(progress.BytesReceived, progress.Peers.Sum(p => p.BytesReceived));
        Assert.True(progress.BytesReceived >= file.Manifest.Size);
    }

    [Fact]
    public async Task RarestChunksComeFirstAndSharedChunksAreSpread()
    {
        const int Count = 16;
        var file = TestFile.Uniform(Count, 1024);
        var sink = new MemorySink(file);
        var a = new FakePeer("a", file, gated: true);
        var b = new FakePeer("b", file, gated: true);
        var download = NewDownload(file, sink);
        var order = new ConcurrentQueue<(DeviceId Peer, int Index)>();
        download.ChunkRequested += (peer, index) => order.Enqueue((peer, index));
        download.AddOrUpdatePeer(a, Bitfield.Full(Count));
        download.AddOrUpdatePeer(b, TestFile.Bits(Count, Enumerable.Range(0, Count).Where(IsShared)));
        var run = download.RunAsync(CancellationToken.None);

        // Serve A alone until it turns to a shared chunk, while B sits on its first requests.
        PendingRequest sharedFromA;
        while (true)
        {
            sharedFromA = await a.NextAsync();
            if (IsShared(sharedFromA.Index)) break;
            sharedFromA.Release();
        }

        var heldByB = b.Requested;
        a.Open();
        b.Open();
        await run.WaitAsync(Timeout);

        AssertComplete(file, sink, a, b);
        var fromA = order.Where(r => r.Peer == a.Id).Select(r => r.Index).ToList();
        var firstSharedFromA = fromA.IndexOf(sharedFromA.Index);
        Assert.Equal(Enumerable.Range(0, Count).Where(i => !IsShared(i)), fromA[..firstSharedFromA].Order());
        Assert.Equal(2, heldByB.Count);
        Assert.All(b.Requested, index => Assert.True(IsShared(index)));
        Assert.DoesNotContain(sharedFromA.Index, heldByB);

        static bool IsShared(int index) => index % 2 == 0;
    }

    [Fact]
    public async Task CorruptDataIsReportedDiscardedAndFetchedElsewhere()
    {
        var file = TestFile.Varied(20);
        var sink = new MemorySink(file);
        var ledger = new BufferLedger();

        // Even chunks come back with a flipped byte, odd ones truncated: both must fail verification.
        var corrupt = new FakePeer("corrupt", file, gated: true) { Ledger = ledger, Tamper = Corrupt };
        var honest = new FakePeer("honest", file, gated: true) { Ledger = ledger };
        var download = NewDownload(file, sink);
        download.AddOrUpdatePeer(corrupt, Bitfield.Full(file.ChunkCount));
        download.AddOrUpdatePeer(honest, Bitfield.Full(file.ChunkCount));
        var run = download.RunAsync(CancellationToken.None);

        var first = await corrupt.NextAsync();
        first.Release();
        await corrupt.FirstBadData.WaitAsync(Timeout);
        corrupt.Open();
        honest.Open();
        await run.WaitAsync(Timeout);

        AssertComplete(file, sink, corrupt, honest);
        Assert.Contains(first.Index, corrupt.BadData);
        Assert.Subset(corrupt.Requested.ToHashSet(), corrupt.BadData.ToHashSet());
        Assert.Equal(corrupt.Requested.Distinct().Count(), corrupt.Requested.Count);
        Assert.All(corrupt.BadData, index => Assert.Contains(index, honest.Requested));
        Assert.Equal(file.Content, sink.Content);
        ledger.AssertEachDisposedOnce();
        Assert.True(download.Snapshot().BytesReceived > file.Manifest.Size);

        static byte[] Corrupt(int index, byte[] data)
        {
            if (index % 2 == 1) return data[..^1];
            data[0] ^= 0xFF;
            return data;
        }
    }

    public static TheoryData<Exception> PeerFailures => new()
    {
        new PeerGoneException("connection reset"),
        new IOException("stream closed"),
    };

    [Theory]
    [MemberData(nameof(PeerFailures))]
    public async Task APeerFailingMidDownloadHasItsRequestsRequeued(Exception failure)
    {
        var file = TestFile.Varied(12);
        var sink = new MemorySink(file);
        var ledger = new BufferLedger();
        var vanishing = new FakePeer("vanishing", file, gated: true) { Ledger = ledger };
        var staying = new FakePeer("staying", file, gated: true) { Ledger = ledger };
        var download = NewDownload(file, sink);
        download.AddOrUpdatePeer(vanishing, Bitfield.Full(file.ChunkCount));
        download.AddOrUpdatePeer(staying, Bitfield.Full(file.ChunkCount));
        var run = download.RunAsync(CancellationToken.None);

        var failed = await vanishing.NextAsync();
        var orphaned = await vanishing.NextAsync();
        failed.Fail(failure);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => orphaned.Completion.WaitAsync(Timeout));
        staying.Open();
        await run.WaitAsync(Timeout);

        AssertComplete(file, sink, vanishing, staying);
        Assert.Equal([orphaned.Index], vanishing.Cancelled);
        Assert.Contains(failed.Index, staying.Requested);
        Assert.Contains(orphaned.Index, staying.Requested);
        Assert.Equal([failed.Index, orphaned.Index], vanishing.Requested);
        Assert.DoesNotContain(download.Snapshot().Peers, p => p.Id == vanishing.Id);
        ledger.AssertEachDisposedOnce();
    }

    [Fact]
    public async Task RemovingAPeerCancelsAndRequeuesItsRequests()
    {
        var file = TestFile.Varied(10);
        var sink = new MemorySink(file);
        var leaving = new FakePeer("leaving", file, gated: true);
        var staying = new FakePeer("staying", file, gated: true);
        var download = NewDownload(file, sink);
        download.AddOrUpdatePeer(leaving, Bitfield.Full(file.ChunkCount));
        download.AddOrUpdatePeer(staying, Bitfield.Full(file.ChunkCount));
        var run = download.RunAsync(CancellationToken.None);

        var held = new[] { await leaving.NextAsync(), await leaving.NextAsync() };
        download.RemovePeer(leaving.Id);
        staying.Open();
        await run.WaitAsync(Timeout);

        AssertComplete(file, sink, leaving, staying);
        Assert.Equal(held.Select(r => r.Index).Order(), leaving.Cancelled.Order());
        Assert.All(held, r => Assert.Contains(r.Index, staying.Requested));
    }

    [Fact]
    public async Task UnavailableChunksAreFetchedFromOtherPeersWithoutDroppingThePeer()
    {
        var file = TestFile.Varied(10);
        var sink = new MemorySink(file);
        var ledger = new BufferLedger();
        var stingy = new FakePeer("stingy", file)
        {
            Ledger = ledger,
            Fault = index => index % 3 == 0 ? new ChunkUnavailableException("evicted") : null,
        };
        var generous = new FakePeer("generous", file) { Ledger = ledger };
        var download = NewDownload(file, sink);
        download.AddOrUpdatePeer(stingy, Bitfield.Full(file.ChunkCount));
        download.AddOrUpdatePeer(generous, Bitfield.Full(file.ChunkCount));

        await download.RunAsync(CancellationToken.None).WaitAsync(Timeout);

        AssertComplete(file, sink, stingy, generous);
        Assert.Equal(stingy.Requested.Distinct().Count(), stingy.Requested.Count);
        Assert.Contains(download.Snapshot().Peers, p => p.Id == stingy.Id && p.Connected);
        ledger.AssertEachDisposedOnce();
    }

    [Fact]
    public async Task ChunksABusyPeerDefersAreFetchedFromOthersWithoutAskingItAgain()
    {
        var file = TestFile.Varied(12);
        var sink = new MemorySink(file);
        var ledger = new BufferLedger();
        var seed = new FakePeer("seed", file)
        {
            Ledger = ledger,
            Fault = index => index % 2 == 0 ? new ChunkBusyException("sending it to others") : null,
        };
        var leecher = new FakePeer("leecher", file) { Ledger = ledger };
        var download = NewDownload(file, sink);
        download.AddOrUpdatePeer(seed, Bitfield.Full(file.ChunkCount));
        download.AddOrUpdatePeer(leecher, Bitfield.Full(file.ChunkCount));

        // The clock never moves, so a deferral never ends: every even chunk the seed was asked for came from the other.
        await download.RunAsync(CancellationToken.None).WaitAsync(Timeout);

        AssertComplete(file, sink, seed, leecher);
        Assert.Equal(seed.Requested.Distinct().Count(), seed.Requested.Count);
        Assert.All(seed.Requested.Where(i => i % 2 == 0), i => Assert.Contains(i, leecher.Requested));
        Assert.Contains(download.Snapshot().Peers, p => p.Id == seed.Id && p.Connected);
        ledger.AssertEachDisposedOnce();
    }

    [Fact]
    public async Task ABusyPeerThatAloneHoldsTheChunkIsAskedAgainAfterBusyRetry()
    {
        var file = TestFile.Varied(6);
        var sink = new MemorySink(file);
        var time = new ManualTimeProvider();
        var refusals = 0;
        var seed = new FakePeer("seed", file)
        {
            Fault = index => index == 3 && Interlocked.Increment(ref refusals) == 1 ? new ChunkBusyException("sending it to others") : null,
        };
        var options = new SwarmOptions { BusyRetry = TimeSpan.FromSeconds(2) };
        var download = NewDownload(file, sink, options, time);
        download.AddOrUpdatePeer(seed, Bitfield.Full(file.ChunkCount));
        var run = download.RunAsync(CancellationToken.None);

        await time.FirstTimer.WaitAsync(Timeout);
        time.Advance(TimeSpan.FromSeconds(1.9));
        await GiveItAChance(run);
        Assert.False(run.IsCompleted);
        Assert.Single(seed.Requested, 3);

        time.Advance(TimeSpan.FromSeconds(0.1));
        await run.WaitAsync(Timeout);

        AssertComplete(file, sink, seed);
        Assert.Equal(2, seed.Requested.Count(i => i == 3));
    }

    [Fact]
    public async Task ResumedDownloadNeverRequestsVerifiedChunks()
    {
        var file = TestFile.Varied(20);
        var alreadyVerified = Enumerable.Range(0, 20).Where(i => i % 3 != 1).ToArray();
        var sink = new MemorySink(file, alreadyVerified);
        var peer = new FakePeer("peer", file);
        var download = NewDownload(file, sink);
        Assert.Equal(alreadyVerified.Sum(i => (long)file.Manifest[i].Length), download.Snapshot().VerifiedBytes);
        download.AddOrUpdatePeer(peer, Bitfield.Full(file.ChunkCount));

        await download.RunAsync(CancellationToken.None).WaitAsync(Timeout);

        AssertComplete(file, sink, peer);
        Assert.Equal(Enumerable.Range(0, 20).Except(alreadyVerified), peer.Requested.Order());
        Assert.All(alreadyVerified, i => Assert.Equal(0, sink.WriteCount(i)));
    }

    [Fact]
    public async Task EndgameDuplicatesTheSlowPeersChunksAndCancelsItsRequests()
    {
        var file = TestFile.Uniform(6, 1024);
        var sink = new MemorySink(file);
        var ledger = new BufferLedger();
        var slow = new FakePeer("slow", file, gated: true) { Ledger = ledger };
        var fast = new FakePeer("fast", file) { Ledger = ledger };
        var download = NewDownload(file, sink);
        var order = new ConcurrentQueue<(DeviceId Peer, int Index)>();
        var cancelledBeforeVerified = new ConcurrentDictionary<int, bool>();
        download.ChunkRequested += (peer, index) => order.Enqueue((peer, index));
        download.ChunkVerified += index => cancelledBeforeVerified[index] = slow.CancelRequested.Contains(index);
        download.AddOrUpdatePeer(slow, Bitfield.Full(file.ChunkCount));
        download.AddOrUpdatePeer(fast, Bitfield.Full(file.ChunkCount));

        await download.RunAsync(CancellationToken.None).WaitAsync(Timeout);

        AssertComplete(file, sink, slow, fast);

        // The slow peer never answers, so the fast one ends up fetching every chunk, its own requests included.
        Assert.Equal(Enumerable.Range(0, 6), fast.Requested.Order());
        var requests = order.ToList();
        var initialSlow = slow.Requested.Take(2);
        Assert.All(initialSlow, index => Assert.True(
            requests.IndexOf((slow.Id, index)) < requests.IndexOf((fast.Id, index)),
            $"chunk {index}: the fast peer duplicates the slow peer's request"));
        Assert.All(slow.Requested, index => Assert.True(
            cancelledBeforeVerified[index],
            $"chunk {index}: the slow request is cancelled as soon as the duplicate wins"));
        Assert.Equal(slow.Requested.Order(), slow.Cancelled.Order());
        ledger.AssertEachDisposedOnce();
    }

    [Fact]
    public async Task ADuplicateArrivingWhileTheChunkIsWrittenIsNotRequestedAgain()
    {
        var file = TestFile.Uniform(1, 1024);
        var writeGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sink = new MemorySink(file) { WriteGate = writeGate.Task };
        var a = new FakePeer("a", file, gated: true);
        var b = new FakePeer("b", file, gated: true);
        var download = NewDownload(file, sink);
        download.AddOrUpdatePeer(a, Bitfield.Full(1));
        download.AddOrUpdatePeer(b, Bitfield.Full(1));
        var run = download.RunAsync(CancellationToken.None);

        var original = await a.NextAsync();
        var duplicate = await b.NextAsync();
        original.Release();
        await sink.WriteStarted.WaitAsync(Timeout);
        duplicate.Release();
        var discarded = await b.NextServedAsync();
        await discarded.Disposed.WaitAsync(Timeout);
        await GiveItAChance(run);

        Assert.Equal([0], b.Requested);
        writeGate.SetResult();
        await run.WaitAsync(Timeout);
        AssertComplete(file, sink, a, b);
        Assert.Equal([0], a.Requested);
        Assert.Equal([0], b.Requested);
        Assert.Equal(1, sink.WriteCount(0));
    }

    [Fact]
    public async Task BytesInFlightNeverExceedTheBound()
    {
        const int ChunkLength = 1024;
        const long Bound = 4 * ChunkLength;
        var file = TestFile.Uniform(64, ChunkLength);
        var sink = new MemorySink(file);
        var gauge = new ByteGauge();
        var ledger = new BufferLedger();
        var a = new FakePeer("a", file, gated: true) { Gauge = gauge, Ledger = ledger };
        var b = new FakePeer("b", file, gated: true) { Gauge = gauge, Ledger = ledger };

        // Windows far larger than the bound, so only the bound holds requests back.
        var options = new SwarmOptions { MinWindowChunks = 64, MaxInFlightBytes = Bound };
        var download = NewDownload(file, sink, options);
        download.AddOrUpdatePeer(a, Bitfield.Full(file.ChunkCount));
        download.AddOrUpdatePeer(b, Bitfield.Full(file.ChunkCount));
        var run = download.RunAsync(CancellationToken.None);

        // The first pass hands out requests one per peer in turn until the bound is reached.
        await a.NextAsync();
        await a.NextAsync();
        await b.NextAsync();
        await b.NextAsync();
        Assert.Equal(Bound, gauge.Current);
        a.Open();
        b.Open();
        await run.WaitAsync(Timeout);

        AssertComplete(file, sink, a, b);
        Assert.Equal(Bound, gauge.Peak);
        Assert.Equal(0, gauge.Current);
        ledger.AssertEachDisposedOnce();
    }

    [Fact]
    public void TheBoundMustHoldTheLargestChunk()
    {
        var file = TestFile.Uniform(2, 2048);
        var options = new SwarmOptions { MaxInFlightBytes = 1024 };

        Assert.Throws<ArgumentException>(() => NewDownload(file, new MemorySink(file), options));
    }

    [Fact]
    public async Task WithoutUsefulPeersTheDownloadWaits()
    {
        var file = TestFile.Varied(4);
        var sink = new MemorySink(file);
        var peer = new FakePeer("late", file);
        var download = NewDownload(file, sink);

        var run = download.RunAsync(CancellationToken.None);
        await GiveItAChance(run);
        Assert.False(run.IsCompleted);

        download.AddOrUpdatePeer(peer, new Bitfield(file.ChunkCount));
        await GiveItAChance(run);
        Assert.False(run.IsCompleted);
        Assert.Empty(peer.Requested);

        for (var i = 0; i < file.ChunkCount; i++) download.PeerHas(peer.Id, i);
        await run.WaitAsync(Timeout);

        AssertComplete(file, sink, peer);
    }

    [Fact]
    public async Task CancellationStopsTheRunAndCancelsOutstandingRequests()
    {
        var file = TestFile.Varied(8);
        var sink = new MemorySink(file);
        var ledger = new BufferLedger();
        var peer = new FakePeer("peer", file, gated: true) { Ledger = ledger };
        var download = NewDownload(file, sink);
        download.AddOrUpdatePeer(peer, Bitfield.Full(file.ChunkCount));
        using var cts = new CancellationTokenSource();
        var run = download.RunAsync(cts.Token);

        var first = await peer.NextAsync();
        var second = await peer.NextAsync();
        first.Release();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(Timeout));
        Assert.Contains(second.Index, peer.Cancelled);
        Assert.True(second.Completion.IsCanceled);
        Assert.Empty(sink.Violations);
        ledger.AssertEachDisposedOnce();
        await Assert.ThrowsAsync<InvalidOperationException>(() => download.RunAsync(CancellationToken.None));
    }

    [Fact]
    public async Task AFailingSinkFailsTheDownload()
    {
        var file = TestFile.Varied(4);
        var failure = new IOException("disk full");
        var sink = new MemorySink(file) { WriteFailure = failure };
        var ledger = new BufferLedger();
        var peer = new FakePeer("peer", file) { Ledger = ledger };
        var download = NewDownload(file, sink);
        download.AddOrUpdatePeer(peer, Bitfield.Full(file.ChunkCount));

        var thrown = await Assert.ThrowsAsync<IOException>(() => download.RunAsync(CancellationToken.None).WaitAsync(Timeout));

        Assert.Same(failure, thrown);
        ledger.AssertEachDisposedOnce();
    }

    [Fact]
    public async Task WindowsGrowWithMeasuredRate()
    {
        const int ChunkLength = 64 * 1024;
        var file = TestFile.Uniform(64, ChunkLength);
        var sink = new MemorySink(file);
        var time = new ManualTimeProvider();
        var fast = new FakePeer("fast", file, gated: true);
        var slow = new FakePeer("slow", file, gated: true);
        var download = NewDownload(file, sink, time: time);
        download.AddOrUpdatePeer(fast, Bitfield.Full(file.ChunkCount));
        download.AddOrUpdatePeer(slow, Bitfield.Full(file.ChunkCount));
        var run = download.RunAsync(CancellationToken.None);

        var initial = new[] { await fast.NextAsync(), await fast.NextAsync() };
        time.Advance(TimeSpan.FromMilliseconds(9));
        foreach (var request in initial) request.Release();

        // 64 KiB in 9 ms is 7.3 MB/s; 200 ms of that is 1.46 MB, which takes 23 chunks to fill, against 2 at the start.
        for (var i = 0; i < 23; i++) await fast.NextAsync();
        Assert.Equal(25, fast.Requested.Count);
        Assert.Equal(2, slow.Requested.Count);

        fast.Open();
        slow.Open();
        await run.WaitAsync(Timeout);
        AssertComplete(file, sink, fast, slow);
    }

    [Fact]
    public async Task SnapshotReportsRatesAndActiveSources()
    {
        var file = TestFile.Varied(10);
        var sink = new MemorySink(file);
        var time = new ManualTimeProvider();
        var peer = new FakePeer("peer", file);
        var idle = new FakePeer("idle", file);
        var download = NewDownload(file, sink, time: time);
        download.AddOrUpdatePeer(peer, Bitfield.Full(file.ChunkCount));
        download.AddOrUpdatePeer(idle, new Bitfield(file.ChunkCount));
        time.Advance(TimeSpan.FromSeconds(1));

        await download.RunAsync(CancellationToken.None).WaitAsync(Timeout);

        var size = file.Manifest.Size;
        var justAfter = download.Snapshot();
        Assert.Equal(size, justAfter.BytesReceived);
        Assert.Equal(size, justAfter.BytesPerSecond, precision: 6);
        Assert.Equal(1, justAfter.ActiveSources);
        var fromPeer = Assert.Single(justAfter.Peers, p => p.Id == peer.Id);
        Assert.Equal(new PeerProgress(peer.Id, "peer", true, size, size), fromPeer with { BytesPerSecond = Math.Round(fromPeer.BytesPerSecond, 6) });
        Assert.Contains(justAfter.Peers, p => p.Id == idle.Id && p.BytesReceived == 0 && p.Connected);

        time.Advance(TimeSpan.FromSeconds(10));
        var later = download.Snapshot();
        Assert.Equal(0, later.BytesPerSecond);
        Assert.Equal(0, later.ActiveSources);
        Assert.All(later.Peers, p => Assert.Equal(0, p.BytesPerSecond));
        Assert.Equal(10, later.VerifiedChunks);
    }

    [Fact]
    public async Task EmptyFileCompletesAtOnce()
    {
        var file = TestFile.Create(1);
        var download = NewDownload(file, new MemorySink(file));

        await download.RunAsync(CancellationToken.None).WaitAsync(Timeout);

        Assert.True(download.Snapshot().IsComplete);
    }

    private static SwarmDownload NewDownload(TestFile file, MemorySink sink, SwarmOptions? options = null, TimeProvider? time = null) =>
        new(file.Manifest, sink, options ?? new SwarmOptions(), time ?? new ManualTimeProvider(), new Random(7));

    private static void AssertComplete(TestFile file, MemorySink sink, params FakePeer[] peers)
    {
        Assert.Empty(sink.Violations);
        Assert.All(peers, peer => Assert.Empty(peer.Violations));
        Assert.True(sink.Verified.IsComplete);
        Assert.Equal(file.Content, sink.Content);
    }

    /// <summary>
    /// Lets a wrongly finishing run finish before the test checks that it has not. Only a safety net: a correct
    /// engine passes however long this takes.
    /// </summary>
    private static Task GiveItAChance(Task run) => Task.WhenAny(run, Task.Delay(TimeSpan.FromMilliseconds(100)));
}
