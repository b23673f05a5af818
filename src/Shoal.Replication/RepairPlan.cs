using Shoal.Core;

namespace Shoal.Replication;

/// <summary>
/// What the network knows about one chunk: where it sits in its file, its hash and length, which live devices keep
/// it (the copies that count), and which other live devices could still send it (a downloaded copy, say) when no
/// kept copy is left.
/// </summary>
public sealed record ChunkState(int Index, Hash256 Hash, int Length, IReadOnlySet<DeviceId> LiveHolders, IReadOnlySet<DeviceId>? OtherCopies = null);

/// <summary>Copy chunk <paramref name="Index"/> to <paramref name="Target"/>.</summary>
public sealed record CopyAction(int Index, DeviceId Target);

/// <summary>
/// What one node should do: the copies it should push (rarest chunks first), the chunk indexes it may delete
/// locally (ascending), and the chunk indexes no live device holds (ascending).
/// </summary>
public sealed record RepairPlan(IReadOnlyList<CopyAction> Copies, IReadOnlyList<int> Drops, IReadOnlyList<int> Lost);
