using System.Runtime.InteropServices;

namespace Shoal.Cli;

/// <summary>
/// Caps glibc's malloc arenas. By default glibc gives every thread that meets contention its own arena, up to eight per
/// core, and memory freed into one arena is not reused by another. A node's native allocations (OpenSSL under SslStream,
/// SQLite) come from whichever thread-pool thread runs the continuation, so the freed space spread over more arenas the
/// longer a transfer ran: measured with bench/run's memory scenario, a sink's anonymous memory rose by ~20 MiB from a
/// 1 GiB to a 10 GiB transfer, and by ~8 MiB with two arenas (MALLOC_ARENA_MAX=2), at the same speed.
/// </summary>
public static partial class NativeHeap
{
    private const int ArenaMaxParameter = -8; // M_ARENA_MAX in glibc's malloc.h

    /// <summary>
    /// The arena limit for a machine with <paramref name="processorCount"/> cores: one per core, at least two, at most
    /// eight; null when the user chose one with MALLOC_ARENA_MAX (<paramref name="userSetting"/>), which glibc applies itself.
    /// </summary>
    public static int? ArenaLimit(int processorCount, string? userSetting) =>
        string.IsNullOrEmpty(userSetting) ? Math.Clamp(processorCount, 2, 8) : null;

    /// <summary>Applies <see cref="ArenaLimit"/> to this process; true if glibc took it (false elsewhere, or if the user set one).</summary>
    public static bool LimitArenas()
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (ArenaLimit(Environment.ProcessorCount, Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX")) is not { } limit) return false;
        try
        {
            return SetMallocOption(ArenaMaxParameter, limit) == 1;
        }
        catch (EntryPointNotFoundException)
        {
            // Not glibc (musl has no mallopt): nothing to tune.
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int SetMallocOption(int parameter, int value);
}
