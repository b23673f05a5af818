using Shoal.Core;
using static Shoal.Replication.Tests.Fixtures;

namespace Shoal.Replication.Tests;

public class PlacementTests
{
    [Fact]
    public void ChooseIsDeterministic()
    {
        var members = Members(8);
        for (var i = 0; i < 200; i++)
        {
            Assert.Equal(Placement.Choose(Chunk(i), 1024, members, 3), Placement.Choose(Chunk(i), 1024, members, 3));
        }
    }

    [Fact]
    public void ChooseDoesNotDependOnMemberOrder()
    {
        var random = new Random(1);
        var members = Devices(10).Select((d, i) => new Member(d, (i + 1) * 7 * MiB)).ToArray();
        for (var i = 0; i < 200; i++)
        {
            var expected = Placement.Choose(Chunk(i), 1024, members, 4);
            for (var round = 0; round < 5; round++)
            {
                Assert.Equal(expected, Placement.Choose(Chunk(i), 1024, Shuffled(members, random), 4));
            }
        }
    }

    [Fact]
    public void RankDoesNotDependOnDeviceOrder()
    {
        var random = new Random(2);
        var devices = Devices(10);
        for (var i = 0; i < 200; i++)
        {
            var expected = Placement.Rank(Chunk(i), devices);
            for (var round = 0; round < 5; round++)
            {
                Assert.Equal(expected, Placement.Rank(Chunk(i), Shuffled(devices, random)));
            }
        }
    }

    [Fact]
    public void RankListsEveryDeviceOnceEvenWhenGivenTwice()
    {
        var devices = Devices(6);
        var ranked = Placement.Rank(Chunk(1), devices.Concat(devices));
        Assert.Equal(6, ranked.Count);
        Assert.Equal(devices.OrderBy(d => d), ranked.OrderBy(d => d));
    }

    [Fact]
    public void ChooseReturnsDistinctDevicesEvenWhenAMemberIsListedTwice()
    {
        var members = Members(5).Concat(Members(5, 3 * MiB)).ToArray();
        for (var i = 0; i < 200; i++)
        {
            var chosen = Placement.Choose(Chunk(i), 1024, members, 5);
            Assert.Equal(5, chosen.Count);
            Assert.Equal(chosen.Count, chosen.Distinct().Count());
        }
    }

    [Fact]
    public void ADuplicatedMemberCountsWithItsLargestFreeSpaceWhateverTheOrder()
    {
        var device = Device(1);
        var bigFirst = new[] { new Member(device, 10 * MiB), new Member(device, 100) };
        var smallFirst = new[] { new Member(device, 100), new Member(device, 10 * MiB) };
        Assert.Equal([device], Placement.Choose(Chunk(1), 4096, bigFirst, 1));
        Assert.Equal([device], Placement.Choose(Chunk(1), 4096, smallFirst, 1));
    }

    [Fact]
    public void MembersWithoutRoomAreNeverChosen()
    {
        const int length = 4096;
        var roomy = Members(4);
        var full = Devices(8).Skip(4).Select((d, i) => new Member(d, i % 2 == 0 ? length - 1 : 0)).ToArray();
        var members = roomy.Concat(full).ToArray();
        for (var i = 0; i < 500; i++)
        {
            var chosen = Placement.Choose(Chunk(i), length, members, 8);
            Assert.Equal(roomy.Select(m => m.Device).OrderBy(d => d), chosen.OrderBy(d => d));
        }
    }

    [Fact]
    public void AMemberWithExactlyEnoughRoomIsEligible()
    {
        var members = new[] { new Member(Device(1), 4096) };
        Assert.Equal([Device(1)], Placement.Choose(Chunk(1), 4096, members, 1));
        Assert.Empty(Placement.Choose(Chunk(1), 4097, members, 1));
    }

    [Fact]
    public void AskingForMoreReplicasThanEligibleMembersReturnsEveryEligibleMember()
    {
        var members = Members(3).Append(new Member(Device(99), 10)).ToArray();
        var chosen = Placement.Choose(Chunk(7), 1024, members, 10);
        Assert.Equal(Devices(3).OrderBy(d => d), chosen.OrderBy(d => d));
    }

    [Fact]
    public void NoMembersOrNoReplicasChooseNothing()
    {
        Assert.Empty(Placement.Choose(Chunk(1), 1024, [], 3));
        Assert.Empty(Placement.Choose(Chunk(1), 1024, Members(4), 0));
        Assert.Empty(Placement.Rank(Chunk(1), []));
    }

    [Fact]
    public void NegativeArgumentsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Placement.Choose(Chunk(1), 1024, Members(4), -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Placement.Choose(Chunk(1), -1, Members(4), 1));
    }

    [Fact]
    public void FewerReplicasAreAPrefixOfMore()
    {
        var members = Devices(9).Select((d, i) => new Member(d, (i + 1) * MiB)).ToArray();
        for (var i = 0; i < 200; i++)
        {
            var all = Placement.Choose(Chunk(i), 1024, members, 9);
            for (var k = 0; k <= 9; k++)
            {
                Assert.Equal(all.Take(k), Placement.Choose(Chunk(i), 1024, members, k));
            }
        }
    }

    [Fact]
    public void WithEqualFreeSpaceChooseFollowsRank()
    {
        var members = Members(7);
        var devices = members.Select(m => m.Device).ToArray();
        for (var i = 0; i < 200; i++)
        {
            Assert.Equal(Placement.Rank(Chunk(i), devices), Placement.Choose(Chunk(i), 1024, members, 7));
        }
    }

    [Fact]
    public void RankIgnoresFreeSpaceButChooseWeighsIt()
    {
        // Rank has no notion of space; Choose with a 1000x bigger member must put it first far more often than Rank does.
        var small = new Member(Device(1), MiB);
        var big = new Member(Device(2), 1000 * MiB);
        var rankFirst = 0;
        var chooseFirst = 0;
        for (var i = 0; i < 2000; i++)
        {
            if (Placement.Rank(Chunk(i), [small.Device, big.Device])[0] == big.Device) rankFirst++;
            if (Placement.Choose(Chunk(i), 1024, [small, big], 2)[0] == big.Device) chooseFirst++;
        }

        Assert.InRange(rankFirst, 850, 1150);
        Assert.InRange(chooseFirst, 1980, 2000);
    }

    [Fact]
    public void FirstChoicesSpreadEvenlyOverEqualMembers()
    {
        var members = Members(4);
        var counts = new Dictionary<DeviceId, int>();
        for (var i = 0; i < 10_000; i++)
        {
            var first = Placement.Choose(Chunk(i), 1024, members, 1)[0];
            counts[first] = counts.GetValueOrDefault(first) + 1;
        }

        Assert.Equal(4, counts.Count);
        Assert.All(counts.Values, count => Assert.InRange(count, 2_200, 2_800));
    }

    [Fact]
    public void FreeSpaceWeightsTheFirstChoice()
    {
        var small = new Member(Device(1), 10 * MiB);
        var big = new Member(Device(2), 90 * MiB);
        var bigFirst = 0;
        for (var i = 0; i < 10_000; i++)
        {
            if (Placement.Choose(Chunk(i), 1024, [small, big], 1)[0] == big.Device) bigFirst++;
        }

        Assert.InRange(bigFirst, 8_500, 9_500);
    }

    [Fact]
    public void FreeSpaceBelowOneMiBStillCountsAsTheMinimumWeight()
    {
        // Both weigh 1, so neither should dominate.
        var tiny = new Member(Device(1), 4096);
        var almostMiB = new Member(Device(2), MiB - 1);
        var tinyFirst = 0;
        for (var i = 0; i < 2_000; i++)
        {
            if (Placement.Choose(Chunk(i), 1024, [tiny, almostMiB], 1)[0] == tiny.Device) tinyFirst++;
        }

        Assert.InRange(tinyFirst, 850, 1150);
    }

    [Fact]
    public void AddingAFifthMemberMovesAboutAFifthOfFirstChoicesAllToTheNewMember()
    {
        var four = Members(4);
        var newcomer = new Member(Device(5), 100 * MiB);
        var five = four.Append(newcomer).ToArray();
        var moved = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var before = Placement.Choose(Chunk(i), 1024, four, 1)[0];
            var after = Placement.Choose(Chunk(i), 1024, five, 1)[0];
            if (before == after) continue;
            moved++;
            Assert.Equal(newcomer.Device, after);
        }

        Assert.InRange(moved, 1_000, 3_000);
    }

    [Fact]
    public void RemovingAMemberOnlyMovesTheChunksItWasChosenFor()
    {
        var members = Members(6);
        var gone = members[2].Device;
        var rest = members.Where(m => m.Device != gone).ToArray();
        for (var i = 0; i < 2_000; i++)
        {
            var before = Placement.Choose(Chunk(i), 1024, members, 3);
            var after = Placement.Choose(Chunk(i), 1024, rest, 3);
            Assert.Equal(before.Where(d => d != gone), after.Take(before.Count(d => d != gone)));
        }
    }

    [Fact]
    public void TheScoreFormulaIsPinned()
    {
        // Nodes on different versions must rank alike. If this fails, the placement formula changed: that is a
        // protocol break, not a refactor.
        var devices = Devices(8);
        var ranked = Placement.Rank(Chunk(42), devices);
        var order = ranked.Select(d => Array.IndexOf(devices, d) + 1).ToArray();
        Assert.Equal(PinnedOrder, order);
    }

    private static readonly int[] PinnedOrder = [1, 2, 8, 3, 7, 6, 5, 4];
}
