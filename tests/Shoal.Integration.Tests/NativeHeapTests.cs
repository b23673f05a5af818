using Shoal.Cli;

namespace Shoal.Integration.Tests;

/// <summary>The malloc arena cap a node starts with (NativeHeap): without it a sink's memory grew with the transfer's length.</summary>
public sealed class NativeHeapTests
{
    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    [InlineData(6, 6)]
    [InlineData(64, 8)]
    public void One_arena_per_core_at_least_two_at_most_eight(int cores, int arenas) =>
        Assert.Equal(arenas, NativeHeap.ArenaLimit(cores, userSetting: null));

    [Fact]
    public void A_limit_the_user_set_in_MALLOC_ARENA_MAX_is_left_to_glibc()
    {
        Assert.Null(NativeHeap.ArenaLimit(2, "16"));
        Assert.Equal(2, NativeHeap.ArenaLimit(2, ""));
    }

    [Fact]
    public void Glibc_takes_the_limit()
    {
        // Shoal's nodes run on Linux with glibc; a MALLOC_ARENA_MAX in the environment is the one case it leaves alone.
        Assert.Equal(Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is null, NativeHeap.LimitArenas());
    }
}
