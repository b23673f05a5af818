namespace Shoal.Fuzz.Tests.Engine;

/// <summary>What the code under test made of one input.</summary>
public enum Verdict
{
    /// <summary>The input was taken as valid (a frame decoded, an invite parsed, a signature verified).</summary>
    Accepted,

    /// <summary>The input was refused in the documented way (an error status, false, the refusal exception).</summary>
    Refused,

    /// <summary>Neither: the input is a valid beginning that needs more bytes.</summary>
    Incomplete,
}

/// <summary>
/// The verdict and a short signature of what the input exercised: the status, the normalized error, the message
/// type and the like. An input whose signature was not seen before joins the corpus, so the fuzzer keeps what
/// reached a new validation branch and mutates it further.
/// </summary>
public readonly record struct Outcome(Verdict Verdict, string Signature)
{
    public static Outcome Accepted(string signature) => new(Verdict.Accepted, signature);

    public static Outcome Refused(string signature) => new(Verdict.Refused, signature);
}

/// <summary>An invariant the target checks beyond "does not throw" failed: the input is a finding.</summary>
public sealed class InvariantViolationException(string message) : Exception(message);

/// <summary>One thing to fuzz: its corpus of valid inputs, how to mutate them and how to run one.</summary>
public abstract class FuzzTarget<T>
    where T : class
{
    public abstract string Name { get; }

    /// <summary>Valid inputs; every one must be accepted, or the corpus proves nothing.</summary>
    public abstract IReadOnlyList<T> ValidSeeds { get; }

    /// <summary>Further starting points that are not valid (edge cases worth mutating).</summary>
    public virtual IReadOnlyList<T> OtherSeeds => [];

    public abstract IMutator<T> Mutator { get; }

    /// <summary>How often, out of 100, a mutation is the target's structural one rather than a generic one.</summary>
    public virtual int StructuralPercent => 0;

    /// <summary>
    /// A mutation that knows the format: changes inside a frame and fixes its length, changes an invite's payload
    /// and recomputes its checksum. Without these, nearly every mutant dies at the first length or checksum check.
    /// </summary>
    public virtual T? MutateStructurally(Random random, T input, T other) => null;

    /// <summary>
    /// Runs one input. Returns the verdict; throws <see cref="InvariantViolationException"/> when an accepted
    /// input breaks a promise (does not re-encode to itself, verifies although forged). Any other exception
    /// escaping is a finding too.
    /// </summary>
    public abstract Outcome Execute(T input);

    public abstract bool SameInput(T a, T b);

    /// <summary>The input as a failure prints it: hex that <see cref="FromHex"/> reads back, and a readable form.</summary>
    public abstract string ToHex(T input);

    public abstract T FromHex(string hex);

    public virtual string Describe(T input) => ToHex(input);
}
