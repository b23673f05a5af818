using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Shoal.Fuzz.Tests.Engine;

/// <summary>What one run of one target did.</summary>
/// <param name="Failures">Inputs that failed: at most 1 unless the run keeps going (<see cref="FuzzOptions.KeepGoing"/>).</param>
/// <param name="Findings">The first failure of each distinct kind, in full (input, replay line, stack).</param>
/// <param name="HeaviestInput">The input that allocated <see cref="MostAllocatedBytes"/>, cut short.</param>
/// <param name="OutOfTime">The run stopped at <see cref="FuzzOptions.TimeBudget"/>, before its iterations were done.</param>
public sealed record FuzzStats(
    string Target,
    int Seed,
    int Inputs,
    int Signatures,
    int Corpus,
    int Accepted,
    int Refused,
    int Incomplete,
    int AcceptedMutants,
    double Seconds,
    double SlowestInputMs,
    long MostAllocatedBytes,
    int Failures,
    IReadOnlyList<string> Findings,
    bool OutOfTime = false,
    string? HeaviestInput = null)
{
    public double InputsPerSecond => Seconds > 0 ? Inputs / Seconds : 0;

    public override string ToString() =>
        $"{Target}: {Inputs:N0} inputs, {Signatures:N0} signatures, corpus {Corpus:N0}, accepted {Accepted:N0} " +
        $"({AcceptedMutants:N0} mutants), refused {Refused:N0}, incomplete {Incomplete:N0}, {InputsPerSecond:N0} inputs/s, " +
        $"slowest {SlowestInputMs:0.0} ms, most allocated {MostAllocatedBytes:N0} B, failures {Failures:N0}" + (OutOfTime ? ", stopped by the time budget" : "") +
        (Findings.Count == 0 ? "" : $" ({Findings.Count} distinct: {string.Join("; ", Findings.Select(f => f.Split('\n')[0]))})");

    public string ToJson() => JsonSerializer.Serialize(new
    {
        target = Target,
        seed = Seed,
        inputs = Inputs,
        signatures = Signatures,
        corpus = Corpus,
        accepted = Accepted,
        acceptedMutants = AcceptedMutants,
        refused = Refused,
        incomplete = Incomplete,
        seconds = Math.Round(Seconds, 3),
        inputsPerSecond = Math.Round(InputsPerSecond),
        slowestInputMs = Math.Round(SlowestInputMs, 2),
        mostAllocatedBytes = MostAllocatedBytes,
        failures = Failures,
        outOfTime = OutOfTime,
        heaviestInput = HeaviestInput,
        findings = Findings,
    });
}

/// <summary>A fuzz finding, with everything needed to replay it.</summary>
public sealed class FuzzFailureException(string message, string kind, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>What went wrong without the input's particulars: failures of the same kind count as one finding.</summary>
    public string Kind { get; } = kind;

    /// <summary>The run's numbers up to the end, on the exception <see cref="MutationFuzzer.Run"/> throws.</summary>
    public FuzzStats? Stats { get; init; }
}

/// <summary>
/// A small outcome-guided mutation fuzzer. It starts from a target's corpus of valid inputs, runs each, then
/// mutates random corpus entries; an input whose outcome signature is new joins the corpus (up to
/// <see cref="FuzzOptions.MaxCorpus"/>), so later mutations start from inputs that got further into validation.
/// Every input must finish without an unexpected exception, within <see cref="FuzzOptions.MaxInputTime"/> (a
/// watchdog thread catches an input that never returns) and allocating at most
/// <see cref="FuzzOptions.MaxAllocatedBytes"/>. Everything is drawn from one seeded <see cref="Random"/> and the
/// targets are deterministic, so a seed and an iteration count replay a failure exactly.
/// </summary>
public static class MutationFuzzer
{
    /// <summary>Distinct findings kept in full per run; further kinds are only counted.</summary>
    private const int MaxFindings = 20;

    /// <param name="replayCommand">How to rerun this target, printed with a failure.</param>
    /// <exception cref="FuzzFailureException">Something failed; the message has every distinct finding.</exception>
    public static FuzzStats Run<T>(FuzzTarget<T> target, FuzzOptions options, string replayCommand = "dotnet test tests/Shoal.Fuzz.Tests -c Release")
        where T : class
    {
        var run = new FuzzRun<T>(target, options, replayCommand);
        var worker = new Thread(run.Loop) { IsBackground = true, Name = $"fuzz {target.Name}" };
        worker.Start();
        while (!worker.Join(TimeSpan.FromMilliseconds(50)))
        {
            var started = Volatile.Read(ref run.StartedTimestamp);
            if (started != 0 && Stopwatch.GetElapsedTime(started) > options.MaxInputTime)
            {
                // The input never returned: nothing can stop the worker, so it is left behind (a background thread).
                run.FailHang(Stopwatch.GetElapsedTime(started));
                break;
            }
        }

        var stats = run.Stats;
        if (options.ReportPath is not null)
        {
            lock (typeof(MutationFuzzer)) File.AppendAllText(options.ReportPath, stats.ToJson() + "\n");
        }

        if (stats.Failures == 0) return stats;
        var message = stats.Findings.Count == 1 && stats.Failures == 1
            ? stats.Findings[0]
            : $"{stats.Failures:N0} failing inputs, {stats.Findings.Count} distinct findings:\n\n{string.Join("\n", stats.Findings)}";
        throw new FuzzFailureException(message, "failed") { Stats = stats };
    }

    /// <summary>FNV-1a: a per-target seed that does not change between runtimes, as string.GetHashCode does.</summary>
    internal static int StableHash(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text) hash = (hash ^ c) * 16777619u;
        return (int)hash;
    }

    private sealed class FuzzRun<T>(FuzzTarget<T> target, FuzzOptions options, string replayCommand)
        where T : class
    {
        /// <summary>When the input under test started (Stopwatch timestamp), 0 between inputs; read by the watchdog.</summary>
        public long StartedTimestamp;

        private readonly object _gate = new();
        private readonly Stopwatch _clock = new();
        private readonly Dictionary<string, string> _findings = new(StringComparer.Ordinal);
        private T? _current;
        private int _iteration;
        private int _inputs;
        private int _corpusCount;
        private int _signatureCount;
        private int _accepted;
        private int _refused;
        private int _incomplete;
        private int _acceptedMutants;
        private int _failures;
        private double _slowestMs;
        private long _mostAllocated;
        private string? _heaviest;
        private bool _stopped;
        private bool _outOfTime;

        public FuzzStats Stats
        {
            get
            {
                lock (_gate)
                {
                    return new FuzzStats(
                        target.Name, options.Seed, _inputs, _signatureCount, _corpusCount, _accepted, _refused, _incomplete, _acceptedMutants,
                        _clock.Elapsed.TotalSeconds, _slowestMs, _mostAllocated, _failures, [.. _findings.Values], _outOfTime, _heaviest);
                }
            }
        }

        public void Loop()
        {
            _clock.Start();
            try
            {
                if (options.ReplayInput is { } hex) Replay(target.FromHex(hex));
                else Fuzz();
            }
            catch (FuzzFailureException e)
            {
                Record(e);
            }
            catch (Exception e)
            {
                // A bug of the harness (a mutator, a structural mutation): fail the run rather than the test host.
                Record(new FuzzFailureException($"Fuzz target '{target.Name}' failed in the harness at input {_iteration}: {e}", "harness error", e));
            }
            finally
            {
                lock (_gate) _clock.Stop();
            }
        }

        public void FailHang(TimeSpan elapsed)
        {
            lock (_gate)
            {
                _stopped = true;
                _clock.Stop();
                var input = Volatile.Read(ref _current);
                Record(Fail(Volatile.Read(ref _iteration), input, "hang", $"hang: the input has not returned after {elapsed.TotalSeconds:0.0} s (limit {options.MaxInputTime.TotalSeconds:0.0} s)", null));
            }
        }

        private void Replay(T input)
        {
            var outcome = RunOne(0, input);
            Count(outcome.Verdict, mutant: false);
            lock (_gate) _signatureCount = 1;
        }

        private void Fuzz()
        {
            var random = new Random(unchecked((options.Seed * 31) + StableHash(target.Name)));
            var valid = target.ValidSeeds;
            var corpus = new List<T>([.. valid, .. target.OtherSeeds]);
            var seedCount = corpus.Count;
            var signatures = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < options.Iterations && !Volatile.Read(ref _stopped); i++)
            {
                if (options.TimeBudget is { } budget && (i & 255) == 0 && _clock.Elapsed > budget)
                {
                    lock (_gate) _outOfTime = true;
                    break;
                }

                T input;
                if (i < seedCount)
                {
                    input = corpus[i];
                }
                else
                {
                    var parent = corpus[random.Next(corpus.Count)];
                    var other = corpus[random.Next(corpus.Count)];
                    var structural = target.StructuralPercent > 0 && random.Next(100) < target.StructuralPercent
                        ? target.MutateStructurally(random, parent, other)
                        : null;
                    input = structural ?? target.Mutator.Mutate(random, parent, other);
                }

                Outcome outcome;
                try
                {
                    outcome = RunOne(i, input);
                    if (i < valid.Count && outcome.Verdict != Verdict.Accepted)
                    {
                        throw Fail(i, input, "valid seed refused", $"valid seed {i} was not accepted: {outcome.Signature}", null);
                    }
                }
                catch (FuzzFailureException e) when (options.KeepGoing)
                {
                    // The failing input stays out of the corpus, or the rest of the run would mostly repeat it.
                    Record(e);
                    continue;
                }

                var mutant = i >= seedCount && outcome.Verdict == Verdict.Accepted && !valid.Any(seed => target.SameInput(seed, input));
                Count(outcome.Verdict, mutant);
                if (signatures.Add(outcome.Signature) && i >= seedCount)
                {
                    if (corpus.Count < options.MaxCorpus) corpus.Add(input);
                    else if (corpus.Count > seedCount) corpus[seedCount + random.Next(corpus.Count - seedCount)] = input;
                }

                lock (_gate)
                {
                    _signatureCount = signatures.Count;
                    _corpusCount = corpus.Count;
                }
            }
        }

        private Outcome RunOne(int iteration, T input)
        {
            Volatile.Write(ref _iteration, iteration);
            Volatile.Write(ref _current, input);
            Outcome outcome;
            var before = GC.GetAllocatedBytesForCurrentThread();
            var start = Stopwatch.GetTimestamp();
            Volatile.Write(ref StartedTimestamp, start);
            try
            {
                outcome = target.Execute(input);
            }
            catch (InvariantViolationException e)
            {
                throw Fail(iteration, input, "invariant: " + string.Join(' ', e.Message.Split(' ').Take(6)), $"invariant violated: {e.Message}", e);
            }
            catch (Exception e)
            {
                throw Fail(iteration, input, $"{e.GetType().Name} at {e.TargetSite?.DeclaringType?.Name}.{e.TargetSite?.Name}", $"unexpected {e.GetType().Name}: {e.Message}", e);
            }
            finally
            {
                Volatile.Write(ref StartedTimestamp, 0);
            }

            var elapsed = Stopwatch.GetElapsedTime(start);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            lock (_gate)
            {
                _slowestMs = Math.Max(_slowestMs, elapsed.TotalMilliseconds);
                if (allocated > _mostAllocated)
                {
                    _mostAllocated = allocated;
                    _heaviest = target.Describe(input) is var described && described.Length > 300 ? described[..300] + "…" : described;
                }
            }

            if (elapsed > options.MaxInputTime)
            {
                throw Fail(iteration, input, "slow", $"slow input: {elapsed.TotalSeconds:0.00} s (limit {options.MaxInputTime.TotalSeconds:0.0} s)", null);
            }

            if (allocated > options.MaxAllocatedBytes)
            {
                throw Fail(iteration, input, "allocation", $"allocated {allocated:N0} bytes for one input (limit {options.MaxAllocatedBytes:N0})", null);
            }

            return outcome;
        }

        private void Count(Verdict verdict, bool mutant)
        {
            lock (_gate)
            {
                _inputs++;
                switch (verdict)
                {
                    case Verdict.Accepted:
                        _accepted++;
                        if (mutant) _acceptedMutants++;
                        break;
                    case Verdict.Refused:
                        _refused++;
                        break;
                    default:
                        _incomplete++;
                        break;
                }
            }
        }

        private void Record(FuzzFailureException failure)
        {
            lock (_gate)
            {
                _inputs++;
                _failures++;
                var kind = Signature.Normalize(failure.Kind);
                if (_findings.Count < MaxFindings) _findings.TryAdd(kind, failure.Message);
            }
        }

        private FuzzFailureException Fail(int iteration, T? input, string kind, string what, Exception? inner)
        {
            var text = new StringBuilder()
                .Append("Fuzz target '").Append(target.Name).Append("' failed at input ").Append(iteration).Append(": ").Append(what).Append('\n');
            if (options.ReplayInput is null)
            {
                text.Append("Replay:  SHOAL_FUZZ_SEED=").Append(options.Seed).Append(" SHOAL_FUZZ_ITERATIONS=").Append(iteration + 1)
                    .Append(' ').Append(replayCommand).Append('\n');
            }

            if (input is not null)
            {
                var hex = target.ToHex(input);
                var description = target.Describe(input);
                if (description.Length > 4000) description = description[..4000] + "…";
                text.Append("Input:   ").Append(description).Append('\n');
                if (hex.Length <= 32 * 1024)
                {
                    text.Append("Alone:   SHOAL_FUZZ_INPUT=").Append(hex).Append(' ').Append(replayCommand).Append('\n');
                }
                else
                {
                    var path = Path.Combine(Path.GetTempPath(), $"shoal-fuzz-{target.Name}-{options.Seed}-{iteration}.hex");
                    File.WriteAllText(path, hex);
                    text.Append("Alone:   SHOAL_FUZZ_INPUT=$(cat ").Append(path).Append(") ").Append(replayCommand).Append('\n');
                }
            }

            if (inner is not null and not InvariantViolationException) text.Append(inner).Append('\n');
            return new FuzzFailureException(text.ToString(), kind, inner);
        }
    }
}
