using System.Security.Cryptography;
using Shoal.Core;

namespace Shoal.Swarm.Tests;

public sealed class PiecePickerTests
{
    private static readonly DeviceId A = Peer(1);
    private static readonly DeviceId B = Peer(2);
    private static readonly DeviceId C = Peer(3);

    [Fact]
    public void PicksRarestChunksFirst()
    {
        var picker = NewPicker(5);
        picker.AddPeer(A, Bitfield.Full(5));
        picker.AddPeer(B, Bits(5, 0, 1, 2));
        picker.AddPeer(C, Bits(5, 0, 1));

        Assert.Equal([3, 3, 2, 1, 1], Enumerable.Range(0, 5).Select(picker.Availability));
        var picks = PickAll(picker, A);

        Assert.Equal([3, 4], picks[..2].Order());
        Assert.Equal(2, picks[2]);
        Assert.Equal([0, 1], picks[3..].Order());
    }

    [Fact]
    public void ADeferredChunkIsPickedFromOtherHoldersUntilResumed()
    {
        var picker = NewPicker(4);
        picker.AddPeer(A, Bitfield.Full(4));
        picker.AddPeer(B, Bits(4, 0, 1, 2));
        picker.Prioritise(2, 1);
        Assert.True(picker.TryPick(A, out var first));
        Assert.Equal(2, first);
        picker.Prioritise(0, 0);

        picker.Defer(A, 2);

        // A's request is dropped and A no longer counts as a holder, whatever it announces meanwhile.
        Assert.Equal(0, picker.RequestCount(2));
        Assert.Equal(1, picker.Availability(2));
        picker.PeerHas(A, 2);
        picker.AddPeer(A, Bitfield.Full(4));
        Assert.Equal(1, picker.Availability(2));
        Assert.Equal([0, 1, 3], PickAll(picker, A).Order());
        Assert.True(picker.TryPick(B, out var fromB));
        Assert.Equal(2, fromB);

        picker.Resume(A, 2);
        Assert.Equal(2, picker.Availability(2));
        picker.Resume(A, 2);
        Assert.Equal(2, picker.Availability(2));
    }

    [Fact]
    public void AChunkThePeerLacksOrThatLeftStaysGoneWhenTheDeferralEnds()
    {
        var picker = NewPicker(3);
        picker.AddPeer(A, Bitfield.Full(3));
        picker.AddPeer(B, Bitfield.Full(3));
        picker.Defer(A, 0);
        picker.Defer(A, 1);
        picker.Defer(B, 2);

        picker.PeerLacks(A, 0);
        picker.RemovePeer(B);
        picker.Resume(A, 0);
        picker.Resume(B, 2);
        picker.Resume(A, 1);

        Assert.Equal([0, 1, 1], Enumerable.Range(0, 3).Select(picker.Availability));
        picker.AddPeer(B, Bitfield.Full(3));
        Assert.Equal([1, 2, 2], Enumerable.Range(0, 3).Select(picker.Availability));
    }

    [Fact]
    public void PriorityWindowGoesFirstInOrderThenRarestFirstResumes()
    {
        var picker = NewPicker(10);
        picker.AddPeer(A, Bitfield.Full(10));
        picker.AddPeer(B, Bits(10, 0, 1, 2, 3, 4, 5, 6, 7));
        picker.Prioritise(4, 3);

        var picks = PickAll(picker, A);

        // 4..6 in order despite being common; then the rarest (8, 9, held by A alone), then the rest.
        Assert.Equal([4, 5, 6], picks[..3]);
        Assert.Equal([8, 9], picks[3..5].Order());
        Assert.Equal([0, 1, 2, 3, 7], picks[5..].Order());
    }

    [Fact]
    public void PriorityWindowSkipsChunksDoneInFlightOrMissingAtThePeer()
    {
        var picker = NewPicker(6);
        picker.AddPeer(A, Bits(6, 0, 2, 3, 4, 5));
        picker.AddPeer(B, Bitfield.Full(6));
        Assert.True(picker.TryPick(B, out _));
        picker.Prioritise(0, 6);
        Assert.True(picker.TryPick(B, out var first));
        picker.MarkReceived(B, first);

        Assert.True(picker.TryPick(A, out var next));

        // A lacks 1; 0 and 1 went to B (in flight or done); A's first useful chunk in order is 2.
        Assert.Equal(2, next);
        picker.Prioritise(0, 0);
        Assert.True(picker.TryPick(A, out var afterPriority));
        Assert.NotEqual(-1, afterPriority);
    }

    [Fact]
    public void AvailabilityChangesReorderPicks()
    {
        var picker = NewPicker(3);
        picker.AddPeer(A, Bitfield.Full(3));
        picker.AddPeer(B, Bits(3, 0, 1));
        picker.PeerHas(B, 2);
        picker.AddPeer(C, Bits(3, 0, 2));

        // Now chunk 1 is the only chunk held by two peers; the others are held by all three.
        Assert.True(picker.TryPick(A, out var first));
        Assert.Equal(1, first);
    }

    [Fact]
    public void TieBreakFollowsTheSeededRandomExactly()
    {
        const int Count = 20;
        var picker = NewPicker(Count, seed: 1234);
        picker.AddPeer(A, Bitfield.Full(Count));

        var picks = PickAll(picker, A);

        // Specified order: among equally rare candidates in ascending index order, the one at random.Next(count).
        var expectedRandom = new Random(1234);
        var remaining = Enumerable.Range(0, Count).ToList();
        var expected = new List<int>();
        while (remaining.Count > 0)
        {
            var at = expectedRandom.Next(remaining.Count);
            expected.Add(remaining[at]);
            remaining.RemoveAt(at);
        }

        Assert.Equal(expected, picks);
        Assert.NotEqual(expected, PickAll(NewWithPeer(Count, seed: 4321), A));
        Assert.Equal(picks, PickAll(NewWithPeer(Count, seed: 1234), A));
    }

    [Fact]
    public void UnrequestedChunksComeBeforeDuplicates()
    {
        var picker = NewPicker(2);
        picker.AddPeer(A, Bitfield.Full(2));
        picker.AddPeer(B, Bitfield.Full(2));

        Assert.True(picker.TryPick(A, out var fromA));
        Assert.True(picker.TryPick(B, out var fromB));
        Assert.NotEqual(fromA, fromB);
        Assert.Equal(2, picker.InFlightCount);

        // Endgame for B: the only chunk it can add is A's.
        Assert.True(picker.TryPick(B, out var duplicate));
        Assert.Equal(fromA, duplicate);
        Assert.Equal(2, picker.RequestCount(fromA));
    }

    [Fact]
    public void EndgameDuplicatesAreLimitedAndNeverFromTheSamePeer()
    {
        var picker = NewPicker(1);
        picker.AddPeer(A, Bitfield.Full(1));
        picker.AddPeer(B, Bitfield.Full(1));
        picker.AddPeer(C, Bitfield.Full(1));

        Assert.True(picker.TryPick(A, out var first));
        Assert.False(picker.TryPick(A, out _));
        Assert.True(picker.TryPick(B, out var second));
        Assert.False(picker.TryPick(C, out _));

        Assert.Equal(0, first);
        Assert.Equal(0, second);
        Assert.Equal(PiecePicker.MaxDuplicates, picker.RequestCount(0));
    }

    [Fact]
    public void EndgameOnlyDuplicatesChunksThePeerHas()
    {
        var picker = NewPicker(2);
        picker.AddPeer(A, Bitfield.Full(2));
        picker.AddPeer(B, Bits(2, 1));

        Assert.True(picker.TryPick(B, out var fromB));
        Assert.True(picker.TryPick(A, out var fromA));
        Assert.Equal(1, fromB);
        Assert.Equal(0, fromA);
        Assert.False(picker.TryPick(B, out _));
    }

    [Fact]
    public void MarkReceivedReturnsTheOtherRequestersAndCompletes()
    {
        var picker = NewPicker(1);
        picker.AddPeer(A, Bitfield.Full(1));
        picker.AddPeer(B, Bitfield.Full(1));
        picker.TryPick(A, out _);
        picker.TryPick(B, out _);

        Assert.Equal([A], picker.MarkReceived(B, 0));
        Assert.True(picker.IsComplete);
        Assert.True(picker.IsDone(0));
        Assert.Equal(0, picker.InFlightCount);
        Assert.Empty(picker.MarkReceived(A, 0));
        Assert.False(picker.TryPick(A, out _));
        Assert.False(picker.TryPick(B, out _));
    }

    [Fact]
    public void MarkReceivedAcceptsASenderThatWasRemoved()
    {
        var picker = NewPicker(2);
        picker.AddPeer(A, Bitfield.Full(2));
        picker.TryPick(A, out var index);
        picker.RemovePeer(A);

        Assert.Empty(picker.MarkReceived(A, index));
        Assert.Equal(1, picker.DoneCount);
        picker.AddPeer(B, Bitfield.Full(2));
        Assert.True(picker.TryPick(B, out var next));
        Assert.NotEqual(index, next);
    }

    [Fact]
    public void MarkFailedReturnsTheChunkToThePool()
    {
        var picker = NewPicker(1);
        picker.AddPeer(A, Bitfield.Full(1));
        picker.TryPick(A, out _);

        picker.MarkFailed(A, 0);

        Assert.Equal(0, picker.RequestCount(0));
        Assert.True(picker.TryPick(A, out var again));
        Assert.Equal(0, again);
    }

    [Fact]
    public void RemovePeerRequeuesItsChunks()
    {
        var picker = NewPicker(4);
        picker.AddPeer(A, Bitfield.Full(4));
        picker.AddPeer(B, Bitfield.Full(4));
        picker.TryPick(A, out var first);
        picker.TryPick(A, out var second);

        var released = picker.RemovePeer(A);

        Assert.Equal(new[] { first, second }.Order(), released);
        Assert.Equal(0, picker.InFlightCount);
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal(1, picker.Availability(i)));
        Assert.Equal([0, 1, 2, 3], PickAll(picker, B).Order());
        Assert.Empty(picker.RemovePeer(A));
        Assert.False(picker.TryPick(A, out _));
    }

    [Fact]
    public void RemovingOneOfTwoRequestersKeepsTheChunkInFlight()
    {
        var picker = NewPicker(1);
        picker.AddPeer(A, Bitfield.Full(1));
        picker.AddPeer(B, Bitfield.Full(1));
        picker.TryPick(A, out _);
        picker.TryPick(B, out _);

        picker.RemovePeer(A);

        Assert.Equal(1, picker.RequestCount(0));
        Assert.False(picker.TryPick(B, out _));
    }

    [Fact]
    public void PeerLacksStopsOfferingTheChunkUntilThePeerHasIt()
    {
        var picker = NewPicker(2);
        picker.AddPeer(A, Bits(2, 0));
        picker.TryPick(A, out _);

        picker.PeerLacks(A, 0);

        Assert.Equal(0, picker.Availability(0));
        Assert.Equal(0, picker.RequestCount(0));
        Assert.False(picker.TryPick(A, out _));
        picker.PeerHas(A, 0);
        Assert.True(picker.TryPick(A, out var index));
        Assert.Equal(0, index);
    }

    [Fact]
    public void ExclusionSurvivesAnnouncementsAndReconnects()
    {
        var picker = NewPicker(2);
        picker.AddPeer(A, Bitfield.Full(2));
        picker.AddPeer(B, Bitfield.Full(2));
        picker.TryPick(A, out var bad);

        picker.Exclude(A, bad);
        picker.PeerHas(A, bad);
        picker.RemovePeer(A);
        picker.AddPeer(A, Bitfield.Full(2));

        Assert.Equal(1, picker.Availability(bad));
        Assert.Equal([1 - bad], PickAll(picker, A));
        Assert.True(picker.TryPick(B, out var fromB));
        Assert.Equal(bad, fromB);
    }

    [Fact]
    public void UpdatingAPeerReplacesWhatItHolds()
    {
        var picker = NewPicker(3);
        picker.AddPeer(A, Bits(3, 0, 1));
        picker.AddPeer(A, Bits(3, 1, 2));

        Assert.Equal([0, 1, 1], Enumerable.Range(0, 3).Select(picker.Availability));
        Assert.Equal(1, picker.PeerCount);
    }

    [Fact]
    public void VerifiedChunksAreNeverPicked()
    {
        var picker = new PiecePicker(4, Bits(4, 0, 2), new Random(1));
        picker.AddPeer(A, Bitfield.Full(4));

        Assert.Equal(2, picker.DoneCount);
        Assert.Equal(2, picker.RemainingCount);
        Assert.Equal([1, 3], PickAll(picker, A).Order());
    }

    [Fact]
    public void UnknownPeersAreIgnored()
    {
        var picker = NewPicker(2);

        picker.PeerHas(A, 0);
        picker.PeerLacks(A, 0);
        picker.MarkFailed(A, 0);

        Assert.False(picker.TryPick(A, out _));
        Assert.Equal(0, picker.Availability(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => picker.PeerHas(A, 2));
        Assert.Throws<ArgumentException>(() => picker.AddPeer(A, new Bitfield(3)));
    }

    [Fact]
    public void EmptyFileIsComplete()
    {
        var picker = new PiecePicker(0, new Bitfield(0), new Random(1));
        picker.AddPeer(A, new Bitfield(0));

        Assert.True(picker.IsComplete);
        Assert.False(picker.TryPick(A, out _));
    }

    [Fact]
    public void HandlesAHundredThousandChunksAndFiftyPeers()
    {
        const int Chunks = 100_000;
        const int PeerCount = 50;
        var picker = NewPicker(Chunks);
        var layout = new Random(99);
        var peers = Enumerable.Range(0, PeerCount).Select(Peer).ToArray();
        foreach (var peer in peers)
        {
            var have = new Bitfield(Chunks);
            for (var i = 0; i < Chunks; i++)
            {
                if (layout.Next(2) == 0) have.Set(i);
            }

            picker.AddPeer(peer, have);
        }

        // A chunk no peer happens to hold can never be picked.
        var reachable = Enumerable.Range(0, Chunks).Count(i => picker.Availability(i) > 0);
        var received = new bool[Chunks];
        var progress = true;
        while (progress)
        {
            progress = false;
            foreach (var peer in peers)
            {
                if (!picker.TryPick(peer, out var index)) continue;
                progress = true;
                Assert.False(received[index]);
                Assert.Equal(1, picker.RequestCount(index));
                received[index] = true;
                Assert.Empty(picker.MarkReceived(peer, index));
            }
        }

        Assert.Equal(reachable, received.Count(r => r));
        Assert.Equal(reachable, picker.DoneCount);
        Assert.Equal(0, picker.InFlightCount);
    }

    private static DeviceId Peer(int n) => DeviceId.FromBytes(SHA256.HashData(BitConverter.GetBytes(n)));

    private static Bitfield Bits(int length, params int[] set) => TestFile.Bits(length, set);

    private static PiecePicker NewPicker(int chunks, int seed = 1) => new(chunks, new Bitfield(chunks), new Random(seed));

    private static PiecePicker NewWithPeer(int chunks, int seed)
    {
        var picker = NewPicker(chunks, seed);
        picker.AddPeer(A, Bitfield.Full(chunks));
        return picker;
    }

    private static int[] PickAll(PiecePicker picker, DeviceId peer)
    {
        var picks = new List<int>();
        while (picker.TryPick(peer, out var index)) picks.Add(index);
        return [.. picks];
    }
}
