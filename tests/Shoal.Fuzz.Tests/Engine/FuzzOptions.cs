using System.Globalization;
using Shoal.Protocol;

namespace Shoal.Fuzz.Tests.Engine;

/// <summary>
/// How one fuzz run goes. The defaults are what CI runs: a fixed seed, so every run tries the same inputs and a
/// failure reproduces, and 10,000 inputs per target. <see cref="FromEnvironment"/> reads the overrides.
/// </summary>
public sealed record FuzzOptions
{
    public const string SeedVariable = "SHOAL_FUZZ_SEED";
    public const string IterationsVariable = "SHOAL_FUZZ_ITERATIONS";
    public const string ReportVariable = "SHOAL_FUZZ_REPORT";
    public const string InputVariable = "SHOAL_FUZZ_INPUT";
    public const string KeepGoingVariable = "SHOAL_FUZZ_KEEP_GOING";
    public const string MaxSecondsVariable = "SHOAL_FUZZ_MAX_SECONDS";

    public const int DefaultSeed = 20_261_122;
    public const int DefaultIterations = 10_000;

    /// <summary>Most bytes one input may allocate: a whole frame at the frame limit, plus room for bookkeeping.</summary>
    public const long DefaultMaxAllocatedBytes = FrameCodec.MaxFrameLength + FrameCodec.HeaderSize + AllocationSlack;

    /// <summary>What a decoder may allocate besides a frame's worth: strings, records and lists of a small input.</summary>
    public const long AllocationSlack = 256 * 1024;

    public int Seed { get; init; } = DefaultSeed;

    public int Iterations { get; init; } = DefaultIterations;

    /// <summary>Inputs that found something new join the corpus until it holds this many; then they replace older finds.</summary>
    public int MaxCorpus { get; init; } = 4096;

    /// <summary>One input taking longer than this is a hang.</summary>
    public TimeSpan MaxInputTime { get; init; } = TimeSpan.FromSeconds(2);

    public long MaxAllocatedBytes { get; init; } = DefaultMaxAllocatedBytes;

    /// <summary>A file each finished run appends one JSON line of results to (bench/fuzz collects them).</summary>
    public string? ReportPath { get; init; }

    /// <summary>
    /// One input, as a failure printed it (hex), to run alone instead of fuzzing: the quickest way to replay a
    /// failure under a debugger.
    /// </summary>
    public string? ReplayInput { get; init; }

    /// <summary>
    /// Record a failing input and go on with the next, rather than stop at the first: a long run then counts every
    /// failure and keeps the first of each kind. The run still fails at the end if anything failed.
    /// </summary>
    public bool KeepGoing { get; init; }

    /// <summary>Stop a target early after this long, with the inputs run so far (a long run's time budget per target).</summary>
    public TimeSpan? TimeBudget { get; init; }

    public static FuzzOptions FromEnvironment() => new()
    {
        TimeBudget = ReadInt(MaxSecondsVariable) is { } seconds and > 0 ? TimeSpan.FromSeconds(seconds) : null,
        KeepGoing = Environment.GetEnvironmentVariable(KeepGoingVariable) is "1" or "true",
        Seed = ReadInt(SeedVariable) ?? DefaultSeed,
        Iterations = ReadInt(IterationsVariable) ?? DefaultIterations,
        ReportPath = NullIfEmpty(Environment.GetEnvironmentVariable(ReportVariable)),
        ReplayInput = NullIfEmpty(Environment.GetEnvironmentVariable(InputVariable)),
    };

    private static int? ReadInt(string name)
    {
        var text = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrWhiteSpace(text)) return null;
        text = text.Replace("_", "", StringComparison.Ordinal);
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= 0
            ? value
            : throw new InvalidOperationException($"{name}={text} is not a non-negative integer.");
    }

    private static string? NullIfEmpty(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();
}
