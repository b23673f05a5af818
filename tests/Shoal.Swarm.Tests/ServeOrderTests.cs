using System.Security.Cryptography;
using System.Text;
using Shoal.Core;
using Shoal.Testing;

namespace Shoal.Swarm.Tests;

public sealed class ServeOrderTests
{
    private static readonly FileId TheFile = FileId.FromBytes(SHA256.HashData("file"u8));
    private static readonly FileId Other = FileId.FromBytes(SHA256.HashData("other"u8));
    private static readonly DeviceId A = Peer("a");
    private static readonly DeviceId B = Peer("b");
    private static readonly DeviceId C = Peer("c");

    /// <summary>What a requester that also gets chunks from others says it holds: more than it was sent here.</summary>
    private const int Sharing = int.MaxValue;

    [Fact]
    public void ALoneDownloaderIsNeverRefused()
    {
        var order = new ServeOrder(new ManualTimeProvider());

        var leases = Enumerable.Range(0, 3).SelectMany(_ => new[] { order.TryAdmit(TheFile, 0, A, Sharing), order.TryAdmit(TheFile, 1, A, Sharing) }).ToList();

        Assert.All(leases, Assert.NotNull);
        Assert.Equal(3, order.SentCount(TheFile, 0));
    }

    [Fact]
    public void AChunkAlreadySentWaitsWhileAnotherPeerIsSentOneNeverSent()
    {
        var time = new ManualTimeProvider();
        var order = new ServeOrder(time);
        var toA = order.TryAdmit(TheFile, 0, A, Sharing);
        Assert.NotNull(toA);

        // B asks for the chunk under way to A: busy, A will pass it on. A chunk nobody got yet goes at once.
        Assert.Null(order.TryAdmit(TheFile, 0, B, Sharing));
        Assert.NotNull(order.TryAdmit(TheFile, 1, B, Sharing));
        Assert.Equal(1, order.SentCount(TheFile, 0));

        // Still refused once A's copy is written out, for ServeOrder.Recent: the network still carries it.
        toA.Dispose();
        time.Advance(ServeOrder.Recent - TimeSpan.FromTicks(1));
        Assert.Null(order.TryAdmit(TheFile, 0, C, Sharing));

        // Another file's counts are its own.
        Assert.NotNull(order.TryAdmit(Other, 0, B, Sharing));
    }

    [Fact]
    public void AChunkSentBeforeGoesOnceNoLessSentChunkIsUnderWay()
    {
        var time = new ManualTimeProvider();
        var order = new ServeOrder(time);
        var first = order.TryAdmit(TheFile, 0, A, Sharing)!;
        var second = order.TryAdmit(TheFile, 1, B, Sharing)!;
        Assert.Null(order.TryAdmit(TheFile, 0, C, Sharing));

        first.Dispose();
        second.Dispose();
        time.Advance(ServeOrder.Recent);

        // Nothing less sent is wanted now (a tail, or peers that cannot reach each other): the upload would idle.
        var again = order.TryAdmit(TheFile, 0, C, Sharing);
        Assert.NotNull(again);
        Assert.Equal(2, order.SentCount(TheFile, 0));

        // The same order one level up: a chunk sent twice waits while one sent once is under way.
        Assert.NotNull(order.TryAdmit(TheFile, 1, A, Sharing));
        Assert.Null(order.TryAdmit(TheFile, 0, B, Sharing));
        Assert.NotNull(order.TryAdmit(TheFile, 2, B, Sharing));
    }

    [Fact]
    public void APeerThatHoldsOnlyWhatItWasSentHereIsNeverRefused()
    {
        var order = new ServeOrder(new ManualTimeProvider());
        Assert.NotNull(order.TryAdmit(TheFile, 0, A, 0));
        Assert.NotNull(order.TryAdmit(TheFile, 1, A, 1));

        // B and C reach no one else: all they hold came from here, so they get chunk 0 though A's first copies are under way.
        Assert.NotNull(order.TryAdmit(TheFile, 0, B, 0));
        Assert.NotNull(order.TryAdmit(TheFile, 0, C, 0));
        Assert.NotNull(order.TryAdmit(TheFile, 2, C, 1));

        // Once B holds a chunk it was not sent here, it has other sources, and waits like everyone else.
        Assert.Null(order.TryAdmit(TheFile, 1, B, 2));
        Assert.Equal(3, order.SentCount(TheFile, 0));
    }

    [Fact]
    public void APeersOwnSendsNeverHoldItBack()
    {
        var order = new ServeOrder(new ManualTimeProvider());

        // A's own first copy of 0 does not keep a second from it (it asked again: it lost the first); B's first copy of 1 does.
        Assert.NotNull(order.TryAdmit(TheFile, 0, A, Sharing));
        Assert.NotNull(order.TryAdmit(TheFile, 0, A, Sharing));
        Assert.NotNull(order.TryAdmit(TheFile, 1, B, Sharing));
        Assert.Null(order.TryAdmit(TheFile, 0, A, Sharing));
    }

    [Fact]
    public void AnIdleFileIsForgottenAndALaterCrowdStartsAfresh()
    {
        var time = new ManualTimeProvider();
        var order = new ServeOrder(time);
        order.TryAdmit(TheFile, 0, A, Sharing)!.Dispose();
        time.Advance(ServeOrder.IdleReset);

        Assert.NotNull(order.TryAdmit(Other, 0, A, Sharing));

        Assert.Equal(1, order.TrackedFiles);
        Assert.Equal(0, order.SentCount(TheFile, 0));
        Assert.NotNull(order.TryAdmit(TheFile, 0, B, Sharing));
        Assert.Null(order.TryAdmit(TheFile, 0, C, Sharing));
    }

    [Fact]
    public void ACrowdOfRandomPickersGetsEveryChunkOnceBeforeAnyTwice()
    {
        // Eight downloaders ask for random chunks they lack, two at a time, as rarest-first does when all are equally
        // rare and nobody sees the others' requests; a refused one asks for another. Each admitted send finishes
        // before the next round.
        const int Chunks = 64;
        var time = new ManualTimeProvider();
        var order = new ServeOrder(time);
        var random = new Random(3);
        var peers = Enumerable.Range(0, 8).Select(i => Peer($"p{i}")).ToArray();
        var underWay = new List<IDisposable>();
        var sentTotal = 0;
        while (sentTotal < Chunks)
        {
            foreach (var peer in peers)
            {
                for (var tries = 0; tries < 4; tries++)
                {
                    if (order.TryAdmit(TheFile, random.Next(Chunks), peer, Sharing) is not { } lease) continue;
                    underWay.Add(lease);
                    sentTotal++;
                    break;
                }
            }

            underWay.ForEach(l => l.Dispose());
            underWay.Clear();
            time.Advance(TimeSpan.FromMilliseconds(100));
        }

        var counts = Enumerable.Range(0, Chunks).Select(i => order.SentCount(TheFile, i)).ToArray();
        Assert.True(counts.Max() <= 1, $"a chunk went twice while others had not gone: {string.Join(",", counts)}");
    }

    private static DeviceId Peer(string name) => DeviceId.FromBytes(SHA256.HashData(Encoding.UTF8.GetBytes(name)));
}
