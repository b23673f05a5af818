using Shoal.Core;

namespace Shoal.Replication;

/// <summary>
/// Works out this node's share of keeping every chunk at the target replica count. Every node runs it on the same
/// view of chunks and members, and the rules are built so that the nodes reach the same global decisions without
/// talking: exactly one holder repairs each under-replicated chunk, and the same holders keep each over-replicated one.
/// </summary>
public static class RepairPlanner
{
    /// <summary>Plans the copies and drops that fall to <paramref name="self"/>.</summary>
    /// <param name="self">The node running the plan.</param>
    /// <param name="chunks">Every chunk to consider; indexes must be distinct.</param>
    /// <param name="liveMembers">The reachable nodes that can take chunks, with their free space.</param>
    /// <param name="replicas">How many live copies each chunk should have; at least one.</param>
    /// <param name="overReplicatedLongEnough">
    /// Indexes the caller has seen over-replicated for long enough to act on; <see langword="null"/> means none.
    /// </param>
    public static RepairPlan Plan(
        DeviceId self,
        IReadOnlyList<ChunkState> chunks,
        IReadOnlyList<Member> liveMembers,
        int replicas,
        ISet<int>? overReplicatedLongEnough = null)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        ArgumentNullException.ThrowIfNull(liveMembers);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);

        var seenIndexes = new HashSet<int>(chunks.Count);
        foreach (var chunk in chunks)
        {
            ArgumentNullException.ThrowIfNull(chunk, nameof(chunks));
            ArgumentNullException.ThrowIfNull(chunk.LiveHolders, nameof(chunks));
            if (!seenIndexes.Add(chunk.Index))
            {
                throw new ArgumentException($"Chunk index {chunk.Index} is listed more than once.", nameof(chunks));
            }
        }

        var lost = new List<int>();
        var drops = new List<int>();
        var underReplicated = new List<ChunkState>();
        foreach (var chunk in chunks)
        {
            var holders = chunk.LiveHolders.Count;
            if (holders == 0)
            {
                // No kept copy is left, but a device that can still send it rescues it rather than let it go.
                if (chunk.OtherCopies is { Count: > 0 }) underReplicated.Add(chunk);
                else lost.Add(chunk.Index);
            }
            else if (holders < replicas)
            {
                underReplicated.Add(chunk);
            }
            else if (holders > replicas && ShouldDrop(self, chunk, replicas, overReplicatedLongEnough))
            {
                drops.Add(chunk.Index);
            }
        }

        lost.Sort();
        drops.Sort();
        return new RepairPlan(PlanCopies(self, underReplicated, liveMembers, replicas), drops, lost);
    }

    /// <summary>
    /// Under-replicated: only the first holder in <see cref="Placement.Rank"/> repairs, because that rank depends
    /// only on the chunk hash and the holder set, which every node sees alike; so one node copies instead of every
    /// holder pushing the same bytes. Targets come from <see cref="Placement.Choose"/> over the members that do not
    /// hold the chunk yet, with each target's free space reduced by what this plan already sends it, so one pass
    /// never overfills a node. Rarest chunks go first (fewest holders, then index): they are one failure from loss
    /// and should get the free space before chunks that still have spare copies. A chunk with no kept copy is
    /// rescued the same way by the first of the devices that can still send it.
    /// </summary>
    private static List<CopyAction> PlanCopies(
        DeviceId self,
        List<ChunkState> underReplicated,
        IReadOnlyList<Member> liveMembers,
        int replicas)
    {
        var copies = new List<CopyAction>();
        var mine = underReplicated
            .Where(chunk => Placement.Rank(chunk.Hash, chunk.LiveHolders.Count > 0 ? chunk.LiveHolders : chunk.OtherCopies!)[0] == self)
            .OrderBy(chunk => chunk.LiveHolders.Count)
            .ThenBy(chunk => chunk.Index)
            .ToList();
        if (mine.Count == 0) return copies;

        // A device listed twice counts once with its largest free space, as in Placement.Choose.
        var freeBytes = new Dictionary<DeviceId, long>();
        foreach (var member in liveMembers)
        {
            ArgumentNullException.ThrowIfNull(member, nameof(liveMembers));
            if (!freeBytes.TryGetValue(member.Device, out var seen) || member.FreeBytes > seen)
            {
                freeBytes[member.Device] = member.FreeBytes;
            }
        }

        var candidates = new List<Member>(freeBytes.Count);
        foreach (var chunk in mine)
        {
            candidates.Clear();
            foreach (var (device, free) in freeBytes)
            {
                if (!chunk.LiveHolders.Contains(device)) candidates.Add(new Member(device, free));
            }

            foreach (var target in Placement.Choose(chunk.Hash, chunk.Length, candidates, replicas - chunk.LiveHolders.Count))
            {
                copies.Add(new CopyAction(chunk.Index, target));
                freeBytes[target] -= chunk.Length;
            }
        }

        return copies;
    }

    /// <summary>
    /// Over-replicated: the first <paramref name="replicas"/> holders in <see cref="Placement.Rank"/> keep the chunk
    /// and every other holder may drop it. All holders agree on that rank, so the surplus goes without two holders
    /// both deleting the copies the other counted on. A drop also waits until the caller says the chunk has been
    /// over-replicated for long enough, so a node that flaps offline and back does not make others re-copy and
    /// then delete the same chunk over and over.
    /// </summary>
    private static bool ShouldDrop(DeviceId self, ChunkState chunk, int replicas, ISet<int>? overReplicatedLongEnough)
    {
        if (overReplicatedLongEnough is null || !overReplicatedLongEnough.Contains(chunk.Index)) return false;
        if (!chunk.LiveHolders.Contains(self)) return false;
        var ranked = Placement.Rank(chunk.Hash, chunk.LiveHolders);
        for (var i = 0; i < replicas; i++)
        {
            if (ranked[i] == self) return false;
        }

        return true;
    }
}
