using Shoal.Core.Folder;

namespace Shoal.Sync;

/// <summary>What to do with a peer's record for a path.</summary>
public enum SyncAction
{
    /// <summary>Keep what we have: the remote record is old news, or ours wins a conflict and the peer will give way.</summary>
    None,

    /// <summary>The remote record has what we already have on disk: record its version, touch nothing.</summary>
    AdoptVersion,

    /// <summary>Make the disk match the remote record (fetch, create, change permissions or delete), then record it.</summary>
    Apply,

    /// <summary>As <see cref="Apply"/>, but first move our file aside under a <see cref="ConflictNames"/> name, since its edit would otherwise be lost.</summary>
    ApplyKeepingLocalAsConflict,
}

/// <summary>The outcome for one path and the version to record once the action is done.</summary>
public readonly record struct SyncDecision(SyncAction Action, VersionVector ResultVersion);

/// <summary>
/// Pure decision logic, separate from the disk and the database so every case can be tested. Every node decides
/// the same way from the same two records, which is what makes two nodes converge without talking it over.
/// </summary>
public static class Reconciler
{
    /// <summary>
    /// Decides what to do about <paramref name="remote"/> given <paramref name="local"/>, this node's record for
    /// the same path (null if it has never seen the path).
    /// </summary>
    /// <remarks>
    /// For <see cref="SyncAction.None"/> the result version is the one to keep: ours, except for a deletion of a
    /// path we never had, where it is the remote's so the caller may record the tombstone (and so not ask again),
    /// or may drop it.
    /// </remarks>
    /// <param name="localSuperseded">
    /// A peer holds a version newer than <paramref name="local"/>: it saw our record and moved on, so ours neither
    /// wins a conflict with <paramref name="remote"/> nor holds an edit that a conflict copy would have to save.
    /// </param>
    public static SyncDecision Decide(FileRecord? local, FileRecord remote, bool localSuperseded = false)
    {
        ArgumentNullException.ThrowIfNull(remote);
        if (local is null) return new(remote.Deleted ? SyncAction.None : SyncAction.Apply, remote.Version);

        switch (remote.Version.Compare(local.Version))
        {
            case Causality.Older:
            case Causality.Equal:
                return new(SyncAction.None, local.Version);
            case Causality.Newer:
                return new(SameOnDisk(local, remote) ? SyncAction.AdoptVersion : SyncAction.Apply, remote.Version);
        }

        // Concurrent: both sides edited without seeing each other's edit. The merged vector is newer than both,
        // so whichever record ends up on both nodes carries it and neither side sees a conflict again.
        var merged = local.Version.Merge(remote.Version);
        if (SameOnDisk(local, remote)) return new(SyncAction.AdoptVersion, merged);
        if (localSuperseded) return new(SyncAction.Apply, merged);
        if (!RemoteWins(local, remote)) return new(SyncAction.None, local.Version);

        // A winning remote is always live (a deletion never beats a live record). Only a live local file holds an
        // edit that applying would destroy; a directory has no content of its own, and for equal content only
        // the permissions change.
        var keepLocal = !local.Deleted && local.IsFile && !local.SameContentAs(remote);
        return new(keepLocal ? SyncAction.ApplyKeepingLocalAsConflict : SyncAction.Apply, merged);
    }

    /// <summary>
    /// The record to follow among several for one path (what the peers hold): of those no other one supersedes, the
    /// conflict winner; -1 for none. Only records nobody superseded may compete: <see cref="RemoteWins"/> between a
    /// superseded record and the rest is no order (an edit can lose to one record's later edit and beat the deletion
    /// that superseded that edit), and nodes that looked at them in different orders would follow different ones.
    /// </summary>
    public static int Winner(IReadOnlyList<FileRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var winner = -1;
        for (var i = 0; i < records.Count; i++)
        {
            var candidate = records[i];
            if (records.Any(other => other.Version.Compare(candidate.Version) == Causality.Newer)) continue;
            if (winner < 0 || (candidate.Version.Compare(records[winner].Version) != Causality.Equal && RemoteWins(records[winner], candidate))) winner = i;
        }

        return winner;
    }

    /// <summary>
    /// Which of two concurrent records wins. Depends only on the two records, never on which node asks, so exactly
    /// one side gives way: RemoteWins(a, b) and RemoteWins(b, a) are never both true.
    /// </summary>
    /// <remarks>
    /// A live record beats a deletion, so an edit is never lost to a concurrent delete. Then the later
    /// modification wins, then the larger device id, then the larger content id. Permissions and finally the
    /// versions themselves break what is left, since two distinct concurrent records always differ in version;
    /// only identical records tie, and then the remote does not win.
    /// </remarks>
    public static bool RemoteWins(FileRecord local, FileRecord remote)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(remote);
        if (local.Deleted != remote.Deleted) return local.Deleted;
        if (remote.ModifiedUnixNs != local.ModifiedUnixNs) return remote.ModifiedUnixNs > local.ModifiedUnixNs;
        var byDevice = remote.ModifiedBy.CompareTo(local.ModifiedBy);
        if (byDevice != 0) return byDevice > 0;
        var byContent = remote.Content.CompareTo(local.Content);
        if (byContent != 0) return byContent > 0;
        if (remote.Permissions != local.Permissions) return remote.Permissions > local.Permissions;
        return CompareVersions(remote.Version, local.Version) > 0;
    }

    /// <summary>Permissions matter for live records only: a deletion has nothing left to set them on.</summary>
    private static bool SameOnDisk(FileRecord local, FileRecord remote) =>
        local.SameContentAs(remote) && (local.Deleted || local.Permissions == remote.Permissions);

    /// <summary>An arbitrary but fixed total order on vectors: counters compared in turn, a prefix before a longer vector.</summary>
    private static int CompareVersions(VersionVector a, VersionVector b)
    {
        var count = Math.Min(a.Counters.Count, b.Counters.Count);
        for (var i = 0; i < count; i++)
        {
            var byDevice = a.Counters[i].Device.CompareTo(b.Counters[i].Device);
            if (byDevice != 0) return byDevice;
            var byValue = a.Counters[i].Value.CompareTo(b.Counters[i].Value);
            if (byValue != 0) return byValue;
        }

        return a.Counters.Count.CompareTo(b.Counters.Count);
    }
}
