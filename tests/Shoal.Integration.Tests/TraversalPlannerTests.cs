using System.Security.Cryptography;
using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Node.Peers;

namespace Shoal.Integration.Tests;

public sealed class TraversalPlannerTests
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TraversalOptions Options = new(TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(4), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(8));
    private static readonly PeerSituation BothBehindNat = new(SelfReachable: false, PeerReachable: false, Link: null, RelayKnown: true);

    private readonly DeviceId _small = Id(0x10);
    private readonly DeviceId _large = Id(0xf0);

    [Fact]
    public void Only_the_smaller_device_acts_and_only_when_neither_side_can_be_dialled()
    {
        var planner = new TraversalPlanner(_small, Options);
        Assert.Equal(TraversalStep.Punch, planner.Next(_large, BothBehindNat, T0));
        Assert.Equal(TraversalStep.None, new TraversalPlanner(_large, Options).Next(_small, BothBehindNat, T0));
        Assert.Equal(TraversalStep.None, planner.Next(_large, BothBehindNat with { PeerReachable = true }, T0));
        Assert.Equal(TraversalStep.None, planner.Next(_large, BothBehindNat with { SelfReachable = true }, T0));
        Assert.Equal(TraversalStep.None, planner.Next(_large, BothBehindNat with { SelfReachable = null }, T0));
        Assert.Equal(TraversalStep.None, planner.Next(_large, BothBehindNat with { Link = LinkKind.Punched }, T0));
    }

    [Fact]
    public void A_failed_punch_falls_back_to_the_relay_and_both_back_off_exponentially()
    {
        var planner = new TraversalPlanner(_small, Options);
        planner.PunchFailed(_large, T0);
        Assert.Equal(TraversalStep.Relay, planner.Next(_large, BothBehindNat, T0));
        Assert.Equal(TraversalStep.None, planner.Next(_large, BothBehindNat with { RelayKnown = false }, T0));

        planner.RelayFailed(_large, T0);
        Assert.Equal(TraversalStep.None, planner.Next(_large, BothBehindNat, T0 + TimeSpan.FromSeconds(1)));
        Assert.Equal(TraversalStep.Relay, planner.Next(_large, BothBehindNat, T0 + TimeSpan.FromSeconds(2)));
        planner.RelayFailed(_large, T0);
        planner.RelayFailed(_large, T0);
        planner.RelayFailed(_large, T0);
        Assert.Equal(TraversalStep.None, planner.Next(_large, BothBehindNat, T0 + TimeSpan.FromSeconds(7)));
        Assert.Equal(TraversalStep.Relay, planner.Next(_large, BothBehindNat, T0 + TimeSpan.FromSeconds(8)));

        Assert.Equal(TraversalStep.Punch, planner.Next(_large, BothBehindNat, T0 + TimeSpan.FromSeconds(30)));
        planner.PunchFailed(_large, T0);
        Assert.NotEqual(TraversalStep.Punch, planner.Next(_large, BothBehindNat, T0 + TimeSpan.FromSeconds(59)));
        Assert.Equal(TraversalStep.Punch, planner.Next(_large, BothBehindNat, T0 + TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void A_relayed_link_keeps_trying_to_punch_but_never_opens_a_second_relay_session()
    {
        var planner = new TraversalPlanner(_small, Options);
        planner.PunchFailed(_large, T0);
        var relayed = BothBehindNat with { Link = LinkKind.Relayed };
        Assert.Equal(TraversalStep.None, planner.Next(_large, relayed, T0));
        Assert.Equal(TraversalStep.Punch, planner.Next(_large, relayed, T0 + TimeSpan.FromSeconds(30)));

        // A direct link forgets the history: a later loss of it starts again with a punch at once.
        Assert.Equal(TraversalStep.None, planner.Next(_large, BothBehindNat with { Link = LinkKind.Direct }, T0));
        Assert.Equal(TraversalStep.Punch, planner.Next(_large, BothBehindNat, T0));
    }

    [Theory]
    [InlineData(LinkKind.Direct, false, LinkKind.Relayed, true, true)]
    [InlineData(LinkKind.Punched, false, LinkKind.Relayed, true, true)]
    [InlineData(LinkKind.Relayed, true, LinkKind.Punched, false, false)]
    [InlineData(LinkKind.Direct, true, LinkKind.Direct, false, true)]
    [InlineData(LinkKind.Direct, false, LinkKind.Direct, true, false)]
    [InlineData(LinkKind.Punched, true, LinkKind.Direct, true, false)]
    public void A_relayed_link_gives_way_and_equals_keep_the_smaller_dialler(LinkKind candidate, bool candidateSmaller, LinkKind existing, bool existingSmaller, bool replaces) =>
        Assert.Equal(replaces, LinkPreference.Replaces(candidate, candidateSmaller, existing, existingSmaller));

    private static DeviceId Id(byte first)
    {
        var bytes = RandomNumberGenerator.GetBytes(32);
        bytes[0] = first;
        return DeviceId.FromBytes(bytes);
    }
}
