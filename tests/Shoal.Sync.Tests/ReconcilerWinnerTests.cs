using Shoal.Core.Folder;
using static Shoal.Sync.Tests.Records;

namespace Shoal.Sync.Tests;

/// <summary>
/// Three records for one path that the chaos test met (tests/Shoal.Integration.Tests/Chaos): an edit, the deletion
/// that superseded it, and an edit made offline meanwhile, older than the first. Pairwise they form a cycle.
/// </summary>
public class ReconcilerWinnerTests
{
    private static readonly FileRecord Edit = File(Version((3, 1), (4, 1)), content: 1, modifiedUnixNs: 585, device: 4);
    private static readonly FileRecord DeletionOfEdit = Deleted(Version((3, 1), (4, 2)), modifiedUnixNs: 592, device: 4);
    private static readonly FileRecord OfflineEdit = File(Version((1, 1)), content: 2, modifiedUnixNs: 582, device: 1);

    [Fact]
    public void The_three_records_beat_each_other_in_a_circle()
    {
        Assert.Equal(Causality.Newer, DeletionOfEdit.Version.Compare(Edit.Version));
        Assert.True(Reconciler.RemoteWins(DeletionOfEdit, OfflineEdit), "a live record beats a deletion");
        Assert.True(Reconciler.RemoteWins(OfflineEdit, Edit), "the later edit wins");
    }

    [Theory]
    [InlineData(0, 1, 2)]
    [InlineData(0, 2, 1)]
    [InlineData(1, 0, 2)]
    [InlineData(1, 2, 0)]
    [InlineData(2, 0, 1)]
    [InlineData(2, 1, 0)]
    public void The_winner_is_among_records_nobody_superseded_whatever_their_order(int first, int second, int third)
    {
        FileRecord[] all = [Edit, DeletionOfEdit, OfflineEdit];
        FileRecord[] records = [all[first], all[second], all[third]];

        Assert.Same(OfflineEdit, records[Reconciler.Winner(records)]);
    }

    [Fact]
    public void No_records_no_winner() => Assert.Equal(-1, Reconciler.Winner([]));

    [Fact]
    public void A_local_record_a_peer_superseded_gives_way_without_a_conflict_copy()
    {
        // Locally the first edit, which alone would beat the offline edit; but a peer has deleted it since.
        Assert.Equal(SyncAction.None, Reconciler.Decide(Edit, OfflineEdit).Action);

        var decision = Reconciler.Decide(Edit, OfflineEdit, localSuperseded: true);

        Assert.Equal(new SyncDecision(SyncAction.Apply, Edit.Version.Merge(OfflineEdit.Version)), decision);
    }
}
