using Shoal.Core;

namespace Shoal.Core.Tests;

public class ChunkBufferPoolTests
{
    private const int KiB = 1024;
    private const int MiB = 1024 * 1024;

    [Theory]
    [InlineData((32 * KiB) + 1, 64 * KiB)]
    [InlineData(64 * KiB, 64 * KiB)]
    [InlineData((64 * KiB) + 1, 128 * KiB)]
    [InlineData((4 * MiB) + 9, (4 * MiB) + (64 * KiB))]
    public void A_rent_is_rounded_up_to_the_granularity(int length, int expected)
    {
        var pool = new ChunkBufferPool(32 * MiB);

        Assert.Equal(expected, ChunkBufferPool.RoundedLength(length));
        Assert.Equal(expected, pool.Rent(length).Length);
    }

    [Fact]
    public void Small_rents_are_left_to_the_shared_array_pool()
    {
        var pool = new ChunkBufferPool(32 * MiB);

        var small = pool.Rent(4 * KiB);
        pool.Return(small);

        Assert.InRange(small.Length, 4 * KiB, ChunkBufferPool.SmallLength);
        Assert.Equal(0, pool.Counts.Rents);
        Assert.Equal(0, pool.IdleBytes);
    }

    [Fact]
    public void A_returned_array_serves_a_later_rent_it_fits()
    {
        var pool = new ChunkBufferPool(32 * MiB);
        var first = pool.Rent(1 * MiB);
        pool.Return(first);

        var second = pool.Rent(700 * KiB);

        Assert.Same(first, second);
        Assert.Equal(1, pool.Counts.Allocations);
        Assert.Equal(1 * MiB, pool.RentedBytes);
        Assert.Equal(0, pool.IdleBytes);
    }

    [Fact]
    public void The_smallest_idle_array_that_fits_is_taken()
    {
        var pool = new ChunkBufferPool(32 * MiB);
        var large = pool.Rent(3 * MiB);
        var small = pool.Rent(1 * MiB);
        var middle = pool.Rent(2 * MiB);
        pool.Return(large);
        pool.Return(small);
        pool.Return(middle);

        Assert.Same(middle, pool.Rent(1536 * KiB));
        Assert.Same(small, pool.Rent(1 * MiB));
        Assert.Same(large, pool.Rent(2 * MiB));
    }

    [Fact]
    public void An_idle_array_more_than_twice_the_size_asked_for_is_left_alone()
    {
        var pool = new ChunkBufferPool(32 * MiB);
        var large = pool.Rent(4 * MiB);
        pool.Return(large);

        var small = pool.Rent(1 * MiB);

        Assert.NotSame(large, small);
        Assert.Equal(1 * MiB, small.Length);
        Assert.Equal(4 * MiB, pool.IdleBytes);
    }

    [Fact]
    public void Rather_than_allocate_past_the_budget_a_rent_takes_a_larger_idle_array()
    {
        var pool = new ChunkBufferPool(8 * MiB);
        pool.Rent(4 * MiB);
        var large = pool.Rent(4 * MiB);
        pool.Return(large);

        // 4 MiB rented and 4 MiB idle: a new 1 MiB array would make 9.
        var small = pool.Rent(1 * MiB);

        Assert.Same(large, small);
        Assert.Equal(2, pool.Counts.Allocations);
        Assert.Equal(0, pool.IdleBytes);
    }

    [Fact]
    public void Idle_arrays_are_dropped_oldest_first_to_keep_rented_and_idle_within_the_budget()
    {
        var pool = new ChunkBufferPool(8 * MiB);
        var arrays = Enumerable.Range(0, 6).Select(_ => pool.Rent(2 * MiB)).ToList();

        foreach (var array in arrays)
        {
            pool.Return(array);
            Assert.True(pool.RentedBytes + pool.IdleBytes <= 8 * MiB || pool.IdleBytes == 0);
        }

        // Four of 2 MiB fit the budget: the last four returned.
        Assert.Equal(8 * MiB, pool.IdleBytes);
        var kept = Enumerable.Range(0, 4).Select(_ => pool.Rent(2 * MiB)).ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.Equal(arrays.Skip(2).ToHashSet(ReferenceEqualityComparer.Instance), kept);
    }

    [Fact]
    public void An_allocation_beyond_the_budget_drops_idle_arrays_too()
    {
        var pool = new ChunkBufferPool(8 * MiB);
        pool.Return(pool.Rent(1 * MiB));
        pool.Rent(3 * MiB);
        Assert.Equal(1 * MiB, pool.IdleBytes);

        // The idle 1 MiB fits no 6 MiB rent, and 3 + 6 + 1 MiB is over the budget.
        pool.Rent(6 * MiB);

        Assert.Equal(0, pool.IdleBytes);
        Assert.Equal(9 * MiB, pool.RentedBytes);
    }

    [Fact]
    public void An_array_larger_than_the_budget_is_not_kept()
    {
        var pool = new ChunkBufferPool(4 * MiB);

        pool.Return(pool.Rent(6 * MiB));

        Assert.Equal(0, pool.IdleBytes);
        Assert.Equal(0, pool.RentedBytes);
    }

    /// <summary>
    /// The regression this pool exists for: what a node holds for chunks must not grow with the length of a transfer.
    /// Chunk buffers as a transfer uses them (random content-defined sizes, up to 8 MiB out at once as measured on a
    /// sink, finishing in any order) cycle through the pool 2,000 and then 20,000 more times: rented plus idle bytes
    /// never exceed the budget while anything is idle, and once warm the pool allocates a fraction of a percent of what
    /// passes through it (without reuse: some 20 GiB).
    /// </summary>
    [Fact]
    public void A_ten_times_longer_transfer_allocates_nothing_more_once_the_pool_is_warm()
    {
        var pool = new ChunkBufferPool(32 * MiB);
        var random = new Random(9);
        var outstanding = new List<byte[]>();
        long outstandingBytes = 0;

        void Cycle(int chunks)
        {
            for (var i = 0; i < chunks; i++)
            {
                // FastCDC-like lengths: 256 KiB to 4 MiB, most near the 1 MiB average.
                var length = Math.Clamp((int)(-Math.Log(1 - random.NextDouble()) * 0.8 * MiB) + (256 * KiB), 256 * KiB, 4 * MiB);
                while (outstandingBytes + length > 8 * MiB)
                {
                    var done = random.Next(outstanding.Count);
                    outstandingBytes -= outstanding[done].Length;
                    pool.Return(outstanding[done]);
                    outstanding.RemoveAt(done);
                    Assert.True(pool.RentedBytes + pool.IdleBytes <= pool.BudgetBytes || pool.IdleBytes == 0);
                }

                var array = pool.Rent(length);
                Assert.True(array.Length >= length);
                outstanding.Add(array);
                outstandingBytes += array.Length;
            }
        }

        Cycle(2_000);
        var warm = pool.Counts;
        Cycle(20_000);
        var after = pool.Counts;

        Assert.True(after.AllocatedBytes - warm.AllocatedBytes <= pool.BudgetBytes, $"{after.Allocations - warm.Allocations} more arrays, {(after.AllocatedBytes - warm.AllocatedBytes) / MiB} MiB, after warming up with {warm.Allocations} ({warm.AllocatedBytes / MiB} MiB)");
    }

    [Fact]
    public async Task Concurrent_rents_and_returns_keep_the_books_straight()
    {
        var pool = new ChunkBufferPool(16 * MiB);

        await Task.WhenAll(Enumerable.Range(0, 8).Select(seed => Task.Run(() =>
        {
            var random = new Random(seed);
            for (var i = 0; i < 2_000; i++)
            {
                var array = pool.Rent(random.Next(ChunkBufferPool.SmallLength + 1, 2 * MiB));
                array[0] = (byte)seed;
                pool.Return(array);
            }
        })));

        Assert.Equal(0, pool.RentedBytes);
        Assert.InRange(pool.IdleBytes, 0, 16 * MiB);
        Assert.Equal(16_000, pool.Counts.Rents);
    }
}
