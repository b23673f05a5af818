using Shoal.Core;
using static Shoal.Replication.Tests.Fixtures;

namespace Shoal.Replication.Tests;

public class RepairPlannerTests
{
    private const int Length = 1000;

    [Fact]
    public void ExactlyOneHolderCopiesEachUnderReplicatedChunk()
    {
        var random = new Random(3);
        var devices = Devices(8);
        var members = Members(8);
        const int replicas = 3;
        var chunks = Enumerable.Range(0, 300)
            .Select(i => State(i, Length, Shuffled(devices, random).Take(random.Next(1, replicas)).ToArray()))
            .ToArray();

        var copiers = new Dictionary<int, List<DeviceId>>();
        var targets = new Dictionary<int, List<DeviceId>>();
        foreach (var self in devices)
        {
            foreach (var group in RepairPlanner.Plan(self, chunks, members, replicas).Copies.GroupBy(c => c.Index))
            {
                copiers.TryAdd(group.Key, []);
                copiers[group.Key].Add(self);
                targets[group.Key] = [.. group.Select(c => c.Target)];
            }
        }

        foreach (var chunk in chunks)
        {
            var copier = Assert.Single(copiers[chunk.Index]);
            Assert.Contains(copier, chunk.LiveHolders);
            Assert.Equal(Placement.Rank(chunk.Hash, chunk.LiveHolders)[0], copier);
            Assert.Equal(replicas - chunk.LiveHolders.Count, targets[chunk.Index].Distinct().Count());
            Assert.DoesNotContain(targets[chunk.Index], chunk.LiveHolders.Contains);
        }
    }

    [Fact]
    public void OneRoundOfEveryNodesPlanBringsEachChunkToTheReplicaCount()
    {
        var random = new Random(4);
        var devices = Devices(10);
        var members = Members(10, 1000 * MiB);
        const int replicas = 3;
        var chunks = Enumerable.Range(0, 200)
            .Select(i => State(i, Length, Shuffled(devices, random).Take(random.Next(0, 7)).ToArray()))
            .ToArray();
        var everyIndex = chunks.Select(c => c.Index).ToHashSet();

        var holders = chunks.ToDictionary(c => c.Index, c => new HashSet<DeviceId>(c.LiveHolders));
        foreach (var self in devices)
        {
            var plan = RepairPlanner.Plan(self, chunks, members, replicas, everyIndex);
            foreach (var copy in plan.Copies) Assert.True(holders[copy.Index].Add(copy.Target));
            foreach (var drop in plan.Drops) Assert.True(holders[drop].Remove(self));
        }

        foreach (var chunk in chunks)
        {
            Assert.Equal(chunk.LiveHolders.Count == 0 ? 0 : replicas, holders[chunk.Index].Count);
        }
    }

    [Fact]
    public void ThePlanDoesNotDependOnInputOrder()
    {
        var random = new Random(5);
        var devices = Devices(7);
        var members = devices.Select((d, i) => new Member(d, (i + 2) * 3 * Length)).ToArray();
        var chunks = Enumerable.Range(0, 100)
            .Select(i => State(i, Length, Shuffled(devices, random).Take(random.Next(0, 6)).ToArray()))
            .ToArray();
        var allowed = Enumerable.Range(0, 100).Where(i => i % 2 == 0).ToHashSet();

        foreach (var self in devices)
        {
            var expected = RepairPlanner.Plan(self, chunks, members, 3, allowed);
            for (var round = 0; round < 3; round++)
            {
                var plan = RepairPlanner.Plan(self, Shuffled(chunks, random), Shuffled(members, random), 3, allowed);
                Assert.Equal(expected.Copies, plan.Copies);
                Assert.Equal(expected.Drops, plan.Drops);
                Assert.Equal(expected.Lost, plan.Lost);
            }
        }
    }

    [Fact]
    public void LostChunksAreReportedByEveryNodeInIndexOrderAndNotRepaired()
    {
        var devices = Devices(4);
        var chunks = new[] { State(7, Length), State(2, Length, devices[0]), State(3, Length), State(0, Length) };
        foreach (var self in devices)
        {
            var plan = RepairPlanner.Plan(self, chunks, Members(4), 2);
            Assert.Equal([0, 3, 7], plan.Lost);
            Assert.DoesNotContain(plan.Copies, c => plan.Lost.Contains(c.Index));
        }
    }

    [Fact]
    public void AFullyReplicatedChunkNeedsNothing()
    {
        var devices = Devices(5);
        var chunks = new[] { State(0, Length, devices[0], devices[1], devices[2]) };
        foreach (var self in devices)
        {
            var plan = RepairPlanner.Plan(self, chunks, Members(5), 3, new HashSet<int> { 0 });
            Assert.Empty(plan.Copies);
            Assert.Empty(plan.Drops);
            Assert.Empty(plan.Lost);
        }
    }

    [Fact]
    public void TargetsExcludeExistingHoldersAndMembersWithoutRoom()
    {
        var self = Device(1);
        var other = Device(2);
        var roomy = new[] { Device(3), Device(4), Device(5) };
        var members = new List<Member> { new(self, 100 * MiB), new(other, 100 * MiB) };
        members.AddRange(roomy.Select(d => new Member(d, 10 * MiB)));
        members.Add(new Member(Device(6), Length - 1));
        members.Add(new Member(Device(7), 0));

        for (var i = 0; i < 200; i++)
        {
            var chunk = State(i, Length, self, other);
            var repairer = Placement.Rank(chunk.Hash, chunk.LiveHolders)[0];
            var plan = RepairPlanner.Plan(repairer, [chunk], members, 10);
            Assert.Equal(roomy.OrderBy(d => d), plan.Copies.Select(c => c.Target).OrderBy(d => d));
        }
    }

    [Fact]
    public void PlannedBytesNeverOverfillAMember()
    {
        var self = Device(1);
        var a = new Member(Device(2), (3 * Length) + 500);
        var b = new Member(Device(3), (2 * Length) + 999);
        var full = new Member(Device(4), Length - 1);
        var members = new[] { new Member(self, 100 * MiB), a, b, full };
        var chunks = Enumerable.Range(0, 50).Select(i => State(i, Length, self)).ToArray();

        var plan = RepairPlanner.Plan(self, chunks, members, 2);

        foreach (var member in members)
        {
            Assert.True(plan.Copies.Count(c => c.Target == member.Device) * Length <= member.FreeBytes);
        }

        Assert.Equal(3, plan.Copies.Count(c => c.Target == a.Device));
        Assert.Equal(2, plan.Copies.Count(c => c.Target == b.Device));
        Assert.Equal([0, 1, 2, 3, 4], plan.Copies.Select(c => c.Index));
    }

    [Fact]
    public void PlannedBytesAreCountedAcrossChunksOfDifferentLengths()
    {
        var self = Device(1);
        var target = new Member(Device(2), 10_000);
        var chunks = new[] { State(0, 6_000, self), State(1, 5_000, self), State(2, 4_000, self) };

        var plan = RepairPlanner.Plan(self, chunks, [target], 2);

        Assert.Equal([new CopyAction(0, target.Device), new CopyAction(2, target.Device)], plan.Copies);
    }

    [Fact]
    public void RarestChunksAreCopiedFirst()
    {
        var self = Device(1);
        var chunks = new[]
        {
            State(0, Length, HoldersLedBy(self, 0, 2)),
            State(1, Length, self),
            State(2, Length, HoldersLedBy(self, 2, 3)),
            State(3, Length, self),
            State(4, Length),
            State(5, Length, HoldersLedBy(self, 5, 4)),
        };

        var plan = RepairPlanner.Plan(self, chunks, Members(12), 4);

        Assert.Equal([1, 1, 1, 3, 3, 3, 0, 0, 2], plan.Copies.Select(c => c.Index));
    }

    [Fact]
    public void TheRarestChunkGetsTheLastFreeSpace()
    {
        var self = Device(1);
        var target = new Member(Device(50), Length);
        var chunks = new[] { State(0, Length, HoldersLedBy(self, 0, 2)), State(9, Length, self) };

        var plan = RepairPlanner.Plan(self, chunks, [target], 3);

        Assert.Equal([new CopyAction(9, target.Device)], plan.Copies);
    }

    [Fact]
    public void WithTooFewMembersTheRepairerCopiesWhereItCan()
    {
        var self = Device(1);
        var chunks = new[] { State(0, Length, self) };
        var members = new[] { new Member(self, MiB), new Member(Device(2), MiB), new Member(Device(3), 10) };

        var plan = RepairPlanner.Plan(self, chunks, members, 5);

        Assert.Equal([new CopyAction(0, Device(2))], plan.Copies);
    }

    [Fact]
    public void OnlyHoldersOutsideTheKeepSetDrop()
    {
        var holders = Devices(6);
        var outsider = Device(99);
        const int replicas = 2;
        for (var i = 0; i < 100; i++)
        {
            var chunk = State(i, Length, holders);
            var keep = Placement.Rank(chunk.Hash, chunk.LiveHolders).Take(replicas).ToHashSet();
            var dropped = 0;
            foreach (var self in holders.Append(outsider))
            {
                var plan = RepairPlanner.Plan(self, [chunk], Members(6), replicas, new HashSet<int> { i });
                Assert.Empty(plan.Copies);
                var drops = keep.Contains(self) || self == outsider;
                Assert.Equal(drops ? [] : new[] { i }, plan.Drops);
                if (!drops) dropped++;
            }

            Assert.Equal(holders.Length - replicas, dropped);
        }
    }

    [Fact]
    public void NothingDropsUntilTheCallerSaysTheSurplusHasLasted()
    {
        var holders = Devices(5);
        var chunks = Enumerable.Range(0, 20).Select(i => State(i, Length, holders)).ToArray();
        var allowed = new HashSet<int> { 3, 11, 17 };
        foreach (var self in holders)
        {
            Assert.Empty(RepairPlanner.Plan(self, chunks, Members(5), 2).Drops);
            Assert.Empty(RepairPlanner.Plan(self, chunks, Members(5), 2, new HashSet<int>()).Drops);

            var drops = RepairPlanner.Plan(self, chunks, Members(5), 2, allowed).Drops;
            var expected = chunks
                .Where(c => allowed.Contains(c.Index) && !Placement.Rank(c.Hash, c.LiveHolders).Take(2).Contains(self))
                .Select(c => c.Index);
            Assert.Equal(expected, drops);
        }
    }

    [Fact]
    public void TheKeepSetNeverDrops()
    {
        var holders = Devices(6);
        var chunks = Enumerable.Range(0, 100).Select(i => State(i, Length, holders)).ToArray();
        var everyIndex = Enumerable.Range(0, 100).ToHashSet();
        foreach (var chunk in chunks)
        {
            foreach (var keeper in Placement.Rank(chunk.Hash, chunk.LiveHolders).Take(3))
            {
                Assert.DoesNotContain(chunk.Index, RepairPlanner.Plan(keeper, [chunk], Members(6), 3, everyIndex).Drops);
            }
        }
    }

    [Fact]
    public void UnderReplicatedAndLostChunksNeverDrop()
    {
        var devices = Devices(3);
        var chunks = new[] { State(0, Length, devices[0]), State(1, Length, devices), State(2, Length) };
        foreach (var self in devices)
        {
            Assert.Empty(RepairPlanner.Plan(self, chunks, Members(3), 3, new HashSet<int> { 0, 1, 2 }).Drops);
        }
    }

    [Fact]
    public void InvalidArgumentsAreRejected()
    {
        var self = Device(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => RepairPlanner.Plan(self, [], Members(2), 0));
        Assert.Throws<ArgumentException>(() =>
            RepairPlanner.Plan(self, [State(1, Length, self), State(1, Length, self)], Members(2), 2));
    }

    /// <summary><paramref name="count"/> holders of chunk <paramref name="index"/>, of which <paramref name="self"/> ranks first.</summary>
    private static DeviceId[] HoldersLedBy(DeviceId self, int index, int count)
    {
        var holders = new List<DeviceId> { self };
        for (var n = 100; holders.Count < count; n++)
        {
            if (Placement.Rank(Chunk(index), [self, Device(n)])[0] == self) holders.Add(Device(n));
        }

        Assert.Equal(self, Placement.Rank(Chunk(index), holders)[0]);
        return [.. holders];
    }

    [Fact]
    public void A_chunk_with_no_kept_copy_is_rescued_by_exactly_one_device_that_can_still_send_it()
    {
        var devices = Devices(5);
        var members = Members(5);
        var senders = new HashSet<DeviceId> { devices[1], devices[3] };
        var rescued = State(0, Length) with { OtherCopies = senders };
        var gone = State(1, Length);

        var plans = devices.ToDictionary(d => d, d => RepairPlanner.Plan(d, [rescued, gone], members, 2));

        var rescuer = Assert.Single(plans, p => p.Value.Copies.Count > 0);
        Assert.Equal(Placement.Rank(rescued.Hash, senders)[0], rescuer.Key);
        Assert.Equal(2, rescuer.Value.Copies.Select(c => c.Target).Distinct().Count());
        Assert.All(rescuer.Value.Copies, c => Assert.Equal(0, c.Index));
        Assert.All(plans.Values, p => Assert.Equal([1], p.Lost));
    }
}
