using Shoal.Core.Folder;
using static Shoal.Sync.Tests.Records;

namespace Shoal.Sync.Tests;

public class ReconcilerTests
{
    private static readonly VersionVector Base = Version((1, 1));
    private static readonly VersionVector Ahead = Version((1, 2));
    private static readonly VersionVector OursOnly = Version((1, 2));
    private static readonly VersionVector TheirsOnly = Version((1, 1), (2, 1));
    private static readonly VersionVector BothMerged = Version((1, 2), (2, 1));

    [Fact]
    public void ANewPathIsApplied()
    {
        var remote = File(Base);
        Assert.Equal(new SyncDecision(SyncAction.Apply, Base), Reconciler.Decide(null, remote));
    }

    [Fact]
    public void ADeletionOfAPathNeverSeenChangesNothingButOffersTheTombstone()
    {
        var remote = Deleted(Base);
        Assert.Equal(new SyncDecision(SyncAction.None, Base), Reconciler.Decide(null, remote));
    }

    [Fact]
    public void AnOlderOrEqualRemoteIsIgnored()
    {
        var local = File(Ahead, content: 1);
        Assert.Equal(new SyncDecision(SyncAction.None, Ahead), Reconciler.Decide(local, File(Base, content: 2)));
        Assert.Equal(new SyncDecision(SyncAction.None, Ahead), Reconciler.Decide(local, File(Ahead, content: 2)));
        Assert.Equal(new SyncDecision(SyncAction.None, Ahead), Reconciler.Decide(local, Deleted(Base)));
    }

    [Fact]
    public void ANewerRemoteWithOtherContentIsApplied()
    {
        var decision = Reconciler.Decide(File(Base, content: 1), File(Ahead, content: 2));
        Assert.Equal(new SyncDecision(SyncAction.Apply, Ahead), decision);
    }

    [Fact]
    public void ANewerRemoteWithTheSameContentIsOnlyAdopted()
    {
        var decision = Reconciler.Decide(File(Base, content: 1, modifiedUnixNs: 5), File(Ahead, content: 1, modifiedUnixNs: 9));
        Assert.Equal(new SyncDecision(SyncAction.AdoptVersion, Ahead), decision);
    }

    [Fact]
    public void ANewerRemoteWithOtherPermissionsIsApplied()
    {
        var decision = Reconciler.Decide(File(Base, permissions: 0b110_100_100), File(Ahead, permissions: 0b111_101_101));
        Assert.Equal(new SyncDecision(SyncAction.Apply, Ahead), decision);
        var directories = Reconciler.Decide(Directory(Base, permissions: 1), Directory(Ahead, permissions: 2));
        Assert.Equal(new SyncDecision(SyncAction.Apply, Ahead), directories);
    }

    [Fact]
    public void ANewerDeletionIsApplied()
    {
        Assert.Equal(new SyncDecision(SyncAction.Apply, Ahead), Reconciler.Decide(File(Base), Deleted(Ahead)));
        Assert.Equal(new SyncDecision(SyncAction.Apply, Ahead), Reconciler.Decide(Directory(Base), Deleted(Ahead, kind: EntryKind.Directory)));
    }

    [Fact]
    public void ANewerDeletionOfWhatWeDeletedIsAdoptedWhateverItsPermissions()
    {
        var local = Deleted(Base) with { Permissions = 0b110_100_100 };
        Assert.Equal(new SyncDecision(SyncAction.AdoptVersion, Ahead), Reconciler.Decide(local, Deleted(Ahead)));
    }

    [Fact]
    public void ANewerRecreationOfWhatWeDeletedIsApplied()
    {
        Assert.Equal(new SyncDecision(SyncAction.Apply, Ahead), Reconciler.Decide(Deleted(Base), File(Ahead)));
    }

    [Fact]
    public void ConcurrentEditsToTheSameContentMergeTheirVersions()
    {
        var decision = Reconciler.Decide(File(OursOnly, content: 3, modifiedUnixNs: 1), File(TheirsOnly, content: 3, modifiedUnixNs: 2, device: 2));
        Assert.Equal(new SyncDecision(SyncAction.AdoptVersion, BothMerged), decision);
        var deletions = Reconciler.Decide(Deleted(OursOnly), Deleted(TheirsOnly, device: 2));
        Assert.Equal(new SyncDecision(SyncAction.AdoptVersion, BothMerged), deletions);
    }

    [Fact]
    public void AConflictWonByTheRemoteKeepsOurFileAsACopy()
    {
        var decision = Reconciler.Decide(File(OursOnly, content: 1, modifiedUnixNs: 10), File(TheirsOnly, content: 2, modifiedUnixNs: 20, device: 2));
        Assert.Equal(new SyncDecision(SyncAction.ApplyKeepingLocalAsConflict, BothMerged), decision);
    }

    [Fact]
    public void AConflictWonByUsChangesNothing()
    {
        var decision = Reconciler.Decide(File(OursOnly, content: 1, modifiedUnixNs: 20), File(TheirsOnly, content: 2, modifiedUnixNs: 10, device: 2));
        Assert.Equal(new SyncDecision(SyncAction.None, OursOnly), decision);
    }

    [Fact]
    public void AConcurrentEditBeatsOurDeletionEvenIfOlder()
    {
        var decision = Reconciler.Decide(Deleted(OursOnly, modifiedUnixNs: 50), File(TheirsOnly, modifiedUnixNs: 10, device: 2));
        Assert.Equal(new SyncDecision(SyncAction.Apply, BothMerged), decision);
    }

    [Fact]
    public void AConcurrentDeletionNeverBeatsOurEdit()
    {
        var decision = Reconciler.Decide(File(OursOnly, modifiedUnixNs: 10), Deleted(TheirsOnly, modifiedUnixNs: 50, device: 2));
        Assert.Equal(new SyncDecision(SyncAction.None, OursOnly), decision);
    }

    [Fact]
    public void AWinningFileReplacesOurDirectoryWithoutACopy()
    {
        var decision = Reconciler.Decide(Directory(OursOnly, modifiedUnixNs: 10), File(TheirsOnly, modifiedUnixNs: 20, device: 2));
        Assert.Equal(new SyncDecision(SyncAction.Apply, BothMerged), decision);
    }

    [Fact]
    public void AWinningDirectoryReplacesOurFileKeepingItAsACopy()
    {
        var decision = Reconciler.Decide(File(OursOnly, modifiedUnixNs: 10), Directory(TheirsOnly, modifiedUnixNs: 20, device: 2));
        Assert.Equal(new SyncDecision(SyncAction.ApplyKeepingLocalAsConflict, BothMerged), decision);
    }

    [Fact]
    public void AWinningPermissionChangeOfTheSameContentNeedsNoCopy()
    {
        var decision = Reconciler.Decide(
            File(OursOnly, content: 1, modifiedUnixNs: 10, permissions: 1),
            File(TheirsOnly, content: 1, modifiedUnixNs: 20, device: 2, permissions: 2));
        Assert.Equal(new SyncDecision(SyncAction.Apply, BothMerged), decision);
    }

    [Fact]
    public void TheConflictRuleBreaksTiesInOrder()
    {
        // Later modification first.
        Assert.True(Reconciler.RemoteWins(File(OursOnly, modifiedUnixNs: 1, device: 9, content: 9), File(TheirsOnly, modifiedUnixNs: 2, device: 1, content: 1)));

        // Then the larger device.
        Assert.True(Reconciler.RemoteWins(File(OursOnly, device: 1, content: 9), File(TheirsOnly, device: 2, content: 1)));
        Assert.False(Reconciler.RemoteWins(File(OursOnly, device: 2, content: 1), File(TheirsOnly, device: 1, content: 9)));

        // Then the larger content.
        Assert.True(Reconciler.RemoteWins(File(OursOnly, content: 1), File(TheirsOnly, content: 2)));
        Assert.False(Reconciler.RemoteWins(File(OursOnly, content: 2), File(TheirsOnly, content: 1)));

        // Then the larger permissions, then the larger version.
        Assert.True(Reconciler.RemoteWins(File(OursOnly, permissions: 1), File(TheirsOnly, permissions: 2)));
        Assert.True(Reconciler.RemoteWins(File(Version((1, 1)), content: 1), File(Version((1, 2)), content: 1)));
        Assert.True(Reconciler.RemoteWins(File(Version((1, 1)), content: 1), File(Version((2, 1)), content: 1)));
        Assert.True(Reconciler.RemoteWins(File(Version((1, 1)), content: 1), File(Version((1, 1), (2, 1)), content: 1)));
    }

    [Fact]
    public void IdenticalRecordsTieAndNeitherWins()
    {
        var record = File(OursOnly);
        Assert.False(Reconciler.RemoteWins(record, record));
        Assert.False(Reconciler.RemoteWins(record, record with { Sequence = 99, Path = "other" }));
    }

    [Fact]
    public void ExactlyOneOfTwoDistinctRecordsWins()
    {
        var random = new Random(13);
        for (var i = 0; i < 5_000; i++)
        {
            var a = RandomRecord(random);
            var b = RandomRecord(random);
            var aWins = Reconciler.RemoteWins(b, a);
            var bWins = Reconciler.RemoteWins(a, b);
            Assert.False(aWins && bWins, $"{a} and {b} both win");
            if (!aWins && !bWins) Assert.True(a.Version.Equals(b.Version) && a.Permissions == b.Permissions && a.Content == b.Content, $"{a} and {b} tie");
        }
    }

    [Fact]
    public void TheConflictRuleIsTransitive()
    {
        var random = new Random(17);
        for (var i = 0; i < 5_000; i++)
        {
            var a = RandomRecord(random);
            var b = RandomRecord(random);
            var c = RandomRecord(random);
            if (Reconciler.RemoteWins(a, b) && Reconciler.RemoteWins(b, c)) Assert.True(Reconciler.RemoteWins(a, c), $"{c} beats {b} beats {a} but not {a}");
        }
    }

    [Fact]
    public void TwoNodesExchangingRecordsConverge()
    {
        var random = new Random(19);
        for (var i = 0; i < 5_000; i++)
        {
            var a = RandomRecord(random);
            var b = RandomRecord(random);

            // Equal versions mean the same history, so they never name different records.
            if (a.Version.Equals(b.Version)) b = a;
            for (var round = 0; round < 3; round++)
            {
                (a, b) = (Receive(a, b), Receive(b, a));
            }

            Assert.Equal(a.Version, b.Version);
            Assert.True(a.SameContentAs(b) && (a.Deleted || a.Permissions == b.Permissions), $"{a} and {b} differ");
            Assert.Equal(SyncAction.None, Reconciler.Decide(a, b).Action);
            Assert.Equal(SyncAction.None, Reconciler.Decide(b, a).Action);
        }
    }

    [Fact]
    public void AConcurrentRemoteThatIsAppliedEndsNewerThanBoth()
    {
        var random = new Random(23);
        for (var i = 0; i < 5_000; i++)
        {
            var local = RandomRecord(random);
            var remote = RandomRecord(random);
            if (local.Version.Compare(remote.Version) != Causality.Concurrent) continue;
            var decision = Reconciler.Decide(local, remote);
            if (decision.Action == SyncAction.None) continue;
            Assert.Equal(Causality.Newer, decision.ResultVersion.Compare(local.Version));
            Assert.Equal(Causality.Newer, decision.ResultVersion.Compare(remote.Version));
        }
    }

    /// <summary>What a node holds after acting on a peer's record, as the caller of the reconciler would do it.</summary>
    private static FileRecord Receive(FileRecord local, FileRecord remote)
    {
        var decision = Reconciler.Decide(local, remote);
        return decision.Action switch
        {
            SyncAction.None => local,
            SyncAction.AdoptVersion => local with { Version = decision.ResultVersion },
            _ => remote with { Version = decision.ResultVersion },
        };
    }
}
