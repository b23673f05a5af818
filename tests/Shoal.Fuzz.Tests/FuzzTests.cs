using System.Runtime.CompilerServices;
using Shoal.Fuzz.Tests.Engine;
using Shoal.Fuzz.Tests.Targets;
using Xunit.Abstractions;

namespace Shoal.Fuzz.Tests;

/// <summary>
/// One fuzz run per target: <see cref="FuzzOptions.DefaultIterations"/> inputs from a fixed seed unless
/// SHOAL_FUZZ_ITERATIONS and SHOAL_FUZZ_SEED say otherwise (bench/fuzz runs a million). A failure prints the input
/// and how to replay it.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void Frame_codec() => Fuzz(new FrameTarget());

    [Fact]
    public void Handshake() => Fuzz(new HandshakeTarget());

    [Fact]
    public void Invite_codes() => Fuzz(new InviteTarget());

    [Fact]
    public void Links() => Fuzz(new LinkTarget());

    [Fact]
    public void Discovery_packets() => Fuzz(new DiscoveryTarget());

    [Fact]
    public void Tracker_requests() => Fuzz(new TrackerJsonTarget());

    [Fact]
    public void Tracker_signatures() => Fuzz(new TrackerSignatureTarget());

    [Fact]
    public void Index_records() => Fuzz(new IndexTarget());

    private void Fuzz<T>(FuzzTarget<T> target, [CallerMemberName] string test = "")
        where T : class
    {
        var options = FuzzOptions.FromEnvironment();
        var command = $"dotnet test tests/Shoal.Fuzz.Tests -c Release --filter \"FullyQualifiedName={typeof(FuzzTests).FullName}.{test}\"";
        FuzzStats stats;
        try
        {
            stats = MutationFuzzer.Run(target, options, command);
        }
        catch (FuzzFailureException e) when (e.Stats is not null)
        {
            output.WriteLine(e.Stats.ToString());
            throw;
        }

        output.WriteLine(stats.ToString());
        if (options.ReplayInput is not null || options.Iterations < 1000) return;

        // A run that never gets an input through, or never gets one refused, tested nothing.
        Assert.True(stats.Accepted > 0 && stats.Refused > 0, stats.ToString());
    }
}

/// <summary>The fuzzer must actually get somewhere with every target, or a clean run proves little.</summary>
public sealed class ReachTests(ITestOutputHelper output)
{
    private const int Iterations = 1_500;

    public static TheoryData<string> Targets => [.. AllTargets.Names];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Reaches_acceptance_and_refusal(string name)
    {
        var stats = AllTargets.Run(name, new FuzzOptions { Iterations = Iterations });
        output.WriteLine(stats.ToString());

        // Every valid seed was accepted (the fuzzer fails otherwise); mutants must be accepted and refused too.
        Assert.True(stats.AcceptedMutants > 0, $"no mutant was accepted: {stats}");
        Assert.True(stats.Refused > Iterations / 10, $"hardly any input was refused: {stats}");
        Assert.True(stats.Signatures >= 10, $"the inputs exercised few distinct paths: {stats}");
        Assert.True(stats.Corpus > AllTargets.SeedCount(name), $"nothing new joined the corpus: {stats}");
    }
}

internal static class AllTargets
{
    public static readonly string[] Names = ["frames", "handshake", "invites", "links", "discovery", "tracker-json", "tracker-signature", "index"];

    public static FuzzStats Run(string name, FuzzOptions options) => name switch
    {
        "frames" => MutationFuzzer.Run(new FrameTarget(), options),
        "handshake" => MutationFuzzer.Run(new HandshakeTarget(), options),
        "invites" => MutationFuzzer.Run(new InviteTarget(), options),
        "links" => MutationFuzzer.Run(new LinkTarget(), options),
        "discovery" => MutationFuzzer.Run(new DiscoveryTarget(), options),
        "tracker-json" => MutationFuzzer.Run(new TrackerJsonTarget(), options),
        "tracker-signature" => MutationFuzzer.Run(new TrackerSignatureTarget(), options),
        "index" => MutationFuzzer.Run(new IndexTarget(), options),
        _ => throw new ArgumentException($"no fuzz target '{name}'", nameof(name)),
    };

    public static int SeedCount(string name) => name switch
    {
        "frames" => Count(new FrameTarget()),
        "handshake" => Count(new HandshakeTarget()),
        "invites" => Count(new InviteTarget()),
        "links" => Count(new LinkTarget()),
        "discovery" => Count(new DiscoveryTarget()),
        "tracker-json" => Count(new TrackerJsonTarget()),
        "tracker-signature" => Count(new TrackerSignatureTarget()),
        "index" => Count(new IndexTarget()),
        _ => throw new ArgumentException($"no fuzz target '{name}'", nameof(name)),
    };

    private static int Count<T>(FuzzTarget<T> target)
        where T : class => target.ValidSeeds.Count + target.OtherSeeds.Count;
}
