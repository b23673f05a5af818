using System.Buffers;

namespace Shoal.Core;

/// <summary>
/// Chunk-sized byte arrays for the data path (chunks received, served, indexed, copied), within a fixed budget: the
/// arrays it keeps for reuse and those rented out together stay within <see cref="BudgetBytes"/> (or it keeps none),
/// however long the node runs and however large the files.
/// </summary>
/// <remarks>
/// <para>
/// <c>ArrayPool&lt;byte&gt;.Shared</c> is made for small, short-lived buffers, not for a daemon's chunks. It rounds each
/// rent up to a power of two (a 1.1 MiB chunk holds 2 MiB), keeps an array per size in a slot of every thread that
/// returned one plus up to 32 per size per core, and trims only on a full collection, which a node that reuses its
/// buffers hardly ever has. So it comes to hold, per size, the most arrays that size ever had out at once, plus one per
/// thread-pool thread: measured, what a sink kept grew from ~40 MiB after a 1 GiB transfer to ~110 MiB after 10 GiB.
/// </para>
/// <para>
/// Here an array is a multiple of <see cref="Granularity"/>. A rent takes the smallest idle array that fits if it is at
/// most <see cref="MaxOversize"/> times the rounded size, else allocates one of the rounded size, unless that would take
/// rented plus idle bytes over the budget: then it takes the larger idle array after all, which costs nothing more in
/// use than idle, where allocating would drop another array as garbage. Whenever rented plus idle bytes exceed the
/// budget, the least recently returned idle arrays are dropped for the garbage collector. One lock, no thread-local
/// slots: a node rents a few hundred chunk buffers per second, far too few to contend. Rents of at most
/// <see cref="SmallLength"/> bytes (a small file's only chunk) go to <c>ArrayPool&lt;byte&gt;.Shared</c> instead, which
/// suits small arrays: rounded up to 64 KiB, a batch of small files would hold many times its size.
/// </para>
/// <para>
/// Measured (bench/run's memory scenario, 10 GiB 1 → 1), each node allocated about two dozen arrays for the whole
/// transfer. The budget matters: replaying a 1 GiB transfer's rents and returns, 16 MiB allocated three to five times as
/// many arrays as 32 MiB, and every dropped array is garbage on the large object heap until the next full collection.
/// </para>
/// </remarks>
public sealed class ChunkBufferPool
{
    /// <summary>Arrays are allocated in multiples of this (64 KiB): little waste, few enough sizes to reuse.</summary>
    public const int Granularity = 64 * 1024;

    /// <summary>Within the budget, a rent takes an idle array up to this many times the rounded size it asked for.</summary>
    public const int MaxOversize = 2;

    /// <summary>Rents up to this long are passed to <c>ArrayPool&lt;byte&gt;.Shared</c>, whose arrays for them are no longer than this.</summary>
    public const int SmallLength = Granularity / 2;

    private readonly Lock _lock = new();

    // Idle arrays, least recently returned first. At most BudgetBytes / Granularity of them, usually a few dozen
    // chunk-sized ones, so a scan is cheap.
    private readonly List<byte[]> _idle = [];
    private long _idleBytes;
    private long _rentedBytes;
    private long _rents;
    private long _allocations;
    private long _allocatedBytes;

    public ChunkBufferPool(long budgetBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budgetBytes);
        BudgetBytes = budgetBytes;
    }

    /// <summary>
    /// The node's pool. 32 MiB: what one download may have in flight (<c>SwarmOptions.MaxInFlightBytes</c>), so a
    /// full-speed transfer's buffers are all reused rather than reallocated.
    /// </summary>
    public static ChunkBufferPool Shared { get; } = new(32L << 20);

    /// <summary>Rented plus idle bytes beyond which idle arrays are dropped.</summary>
    public long BudgetBytes { get; }

    /// <summary>Bytes of the arrays kept for reuse.</summary>
    public long IdleBytes
    {
        get
        {
            lock (_lock) return _idleBytes;
        }
    }

    /// <summary>Bytes of the arrays rented and not yet returned.</summary>
    public long RentedBytes
    {
        get
        {
            lock (_lock) return _rentedBytes;
        }
    }

    /// <summary>Rents (of more than <see cref="SmallLength"/>) so far, how many of them allocated a new array, and the bytes those allocated.</summary>
    public (long Rents, long Allocations, long AllocatedBytes) Counts
    {
        get
        {
            lock (_lock) return (_rents, _allocations, _allocatedBytes);
        }
    }

    /// <summary>The length of the array a rent of <paramref name="length"/> bytes allocates: rounded up to <see cref="Granularity"/>.</summary>
    public static int RoundedLength(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return (int)Math.Max(Granularity, ((long)length + Granularity - 1) / Granularity * Granularity);
    }

    /// <summary>An array of at least <paramref name="length"/> bytes, contents undefined; give it back with <see cref="Return"/>.</summary>
    public byte[] Rent(int length)
    {
        if (length <= SmallLength) return ArrayPool<byte>.Shared.Rent(length);
        var size = RoundedLength(length);
        lock (_lock)
        {
            _rents++;
            var best = -1;
            for (var i = 0; i < _idle.Count; i++)
            {
                var candidate = _idle[i].Length;
                // On a tie the later one: the most recently returned array is the likeliest to be in a cache.
                if (candidate >= size && (best < 0 || candidate <= _idle[best].Length)) best = i;
            }

            if (best >= 0 && (_idle[best].Length <= (long)size * MaxOversize || _rentedBytes + _idleBytes + size > BudgetBytes))
            {
                var array = _idle[best];
                _idle.RemoveAt(best);
                _idleBytes -= array.Length;
                _rentedBytes += array.Length;
                return array;
            }

            _allocations++;
            _allocatedBytes += size;
            _rentedBytes += size;
            TrimLocked();
        }

        // Outside the lock: allocating megabytes takes a while. Uninitialised, as a reused array would be.
        return GC.AllocateUninitializedArray<byte>(size);
    }

    /// <summary>Gives back an array from <see cref="Rent"/>. Return each array once, and stop using it.</summary>
    public void Return(byte[] array)
    {
        ArgumentNullException.ThrowIfNull(array);
        if (array.Length <= SmallLength)
        {
            ArrayPool<byte>.Shared.Return(array);
            return;
        }

        lock (_lock)
        {
            _rentedBytes -= array.Length;
            if (array.Length > BudgetBytes) return;
            _idle.Add(array);
            _idleBytes += array.Length;
            TrimLocked();
        }
    }

    /// <summary>Drops the least recently returned idle arrays while rented plus idle bytes exceed the budget.</summary>
    private void TrimLocked()
    {
        var drop = 0;
        while (drop < _idle.Count && _rentedBytes + _idleBytes > BudgetBytes)
        {
            _idleBytes -= _idle[drop].Length;
            drop++;
        }

        _idle.RemoveRange(0, drop);
    }
}
