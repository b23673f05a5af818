using Shoal.Fuzz.Tests.Engine;

namespace Shoal.Fuzz.Tests;

/// <summary>The harness itself: deterministic, and it catches what it claims to catch.</summary>
public sealed class FuzzerTests
{
    [Fact]
    public void The_same_seed_runs_the_same_inputs()
    {
        var options = new FuzzOptions { Iterations = 800 };
        var first = MutationFuzzer.Run(new Targets.FrameTarget(), options);
        var second = MutationFuzzer.Run(new Targets.FrameTarget(), options);
        var other = MutationFuzzer.Run(new Targets.FrameTarget(), options with { Seed = options.Seed + 1 });

        Assert.Equal((first.Signatures, first.Corpus, first.Accepted, first.Refused), (second.Signatures, second.Corpus, second.Accepted, second.Refused));
        Assert.NotEqual((first.Signatures, first.Corpus, first.Accepted, first.Refused), (other.Signatures, other.Corpus, other.Accepted, other.Refused));
    }

    [Fact]
    public void An_exception_is_reported_with_what_replays_it()
    {
        var options = new FuzzOptions { Iterations = 5_000 };
        var failure = Assert.Throws<FuzzFailureException>(() => MutationFuzzer.Run(new Trap(Trap.Kind.Throw), options));

        Assert.Contains("Fuzz target 'trap' failed at input", failure.Message);
        Assert.Contains("unexpected InvalidOperationException: sprung", failure.Message);
        Assert.Contains($"SHOAL_FUZZ_SEED={options.Seed} SHOAL_FUZZ_ITERATIONS=", failure.Message);
        Assert.Contains("at Shoal.Fuzz.Tests.FuzzerTests.Trap.Execute", failure.Message);

        // The printed input alone fails the same way.
        var hex = failure.Message.Split('\n').Single(l => l.StartsWith("Alone:", StringComparison.Ordinal)).Split('=')[1].Split(' ')[0];
        var replayed = Assert.Throws<FuzzFailureException>(() => MutationFuzzer.Run(new Trap(Trap.Kind.Throw), options with { ReplayInput = hex }));
        Assert.Contains("failed at input 0: unexpected InvalidOperationException: sprung", replayed.Message);

        // So does the seed with the printed count, at the same input.
        var iterations = int.Parse(failure.Message.Split("SHOAL_FUZZ_ITERATIONS=")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        var rerun = Assert.Throws<FuzzFailureException>(() => MutationFuzzer.Run(new Trap(Trap.Kind.Throw), options with { Iterations = iterations }));
        Assert.Equal(failure.Message, rerun.Message);
    }

    [Fact]
    public void A_run_that_keeps_going_counts_every_failure_and_keeps_one_of_each_kind()
    {
        var failure = Assert.Throws<FuzzFailureException>(() => MutationFuzzer.Run(new Trap(Trap.Kind.Throw), new FuzzOptions { Iterations = 5_000, KeepGoing = true }));

        Assert.Matches(@"^[0-9,]+ failing inputs, 1 distinct findings:", failure.Message);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(failure.Message, "Replay:"));
    }

    [Fact]
    public void An_allocation_beyond_the_frame_limit_is_reported()
    {
        var failure = Assert.Throws<FuzzFailureException>(() => MutationFuzzer.Run(new Trap(Trap.Kind.Allocate), new FuzzOptions { Iterations = 5_000 }));

        Assert.Contains("bytes for one input (limit", failure.Message);
    }

    [Fact]
    public void An_input_that_never_returns_is_reported()
    {
        using var trap = new Trap(Trap.Kind.Hang);
        var options = new FuzzOptions { Iterations = 5_000, MaxInputTime = TimeSpan.FromMilliseconds(300) };
        var failure = Assert.Throws<FuzzFailureException>(() => MutationFuzzer.Run(trap, options));

        Assert.Contains("hang: the input has not returned", failure.Message);
        Assert.Contains("SHOAL_FUZZ_INPUT=", failure.Message);
    }

    [Fact]
    public void A_valid_seed_that_is_refused_is_reported()
    {
        var failure = Assert.Throws<FuzzFailureException>(() => MutationFuzzer.Run(new Trap(Trap.Kind.RefuseSeed), new FuzzOptions { Iterations = 10 }));

        Assert.Contains("valid seed 0 was not accepted", failure.Message);
    }

    /// <summary>Accepts bytes starting with 'S'; springs its trap on an input holding 0xEE, which only a mutation produces.</summary>
    private sealed class Trap(Trap.Kind kind) : ByteTarget, IDisposable
    {
        private readonly ManualResetEventSlim _release = new();

        public enum Kind
        {
            Throw,
            Allocate,
            Hang,
            RefuseSeed,
        }

        public override string Name => "trap";

        public override IReadOnlyList<byte[]> ValidSeeds { get; } = [[(byte)'S', 1, 2, 3, 4, 5, 6, 7]];

        public override Outcome Execute(byte[] input)
        {
            if (kind == Kind.RefuseSeed) return Outcome.Refused("no");
            if (Array.IndexOf(input, (byte)0xEE) >= 0)
            {
                switch (kind)
                {
                    case Kind.Throw:
                        throw new InvalidOperationException("sprung");
                    case Kind.Allocate:
                        GC.KeepAlive(new byte[FuzzOptions.DefaultMaxAllocatedBytes]);
                        break;
                    default:
                        _release.Wait();
                        break;
                }
            }

            return input.Length > 0 && input[0] == 'S' ? Outcome.Accepted($"ok {input.Length}") : Outcome.Refused($"no {input.Length % 7}");
        }

        public void Dispose()
        {
            // Lets the worker the watchdog gave up on finish.
            _release.Set();
        }
    }
}
