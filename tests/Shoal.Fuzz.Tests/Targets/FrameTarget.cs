using Shoal.Fuzz.Tests.Engine;
using Shoal.Protocol;

namespace Shoal.Fuzz.Tests.Targets;

/// <summary>
/// The frame codec: a stream of frames of every message type, read with <see cref="FrameCodec.TryReadFrame"/> from
/// one buffer and again cut into segments. Both reads must agree, never throw, and everything decoded must
/// re-encode to the bytes it came from.
/// </summary>
internal sealed class FrameTarget : ByteTarget
{
    public override string Name => "frames";

    public override IReadOnlyList<byte[]> ValidSeeds { get; } =
    [
        .. Corpus.Messages.Select(FrameCodec.Encode),

        // Streams of several frames, as a connection delivers them.
        [.. FrameCodec.Encode(Corpus.Messages[0]), .. FrameCodec.Encode(Corpus.Messages[2]), .. FrameCodec.Encode(Corpus.Messages[5])],
        [.. Corpus.Messages.Skip(8).Take(6).SelectMany(FrameCodec.Encode)],
    ];

    public override IReadOnlyList<byte[]> OtherSeeds { get; } =
    [
        [],
        [0, 0, 0, 0, 0],
        [0x00, 0x40, 0x00, 0x41, (byte)MessageType.ChunkResponse, 0, 0, 0, 1],
        [0xFF, 0xFF, 0xFF, 0xFF, (byte)MessageType.IndexUpdate],
    ];

    public override int StructuralPercent => 50;

    public override byte[]? MutateStructurally(Random random, byte[] input, byte[] other) =>
        Frames.MutateInsideFrame(random, input, other, Mutator);

    public override Outcome Execute(byte[] input)
    {
        var whole = Frames.ReadAll(new(input));
        var split = Frames.ReadAll(Frames.Split(input));
        var signature = Frames.Describe(whole);
        var splitSignature = Frames.Describe(split);
        if (signature != splitSignature || whole.Count != split.Count)
        {
            throw new InvariantViolationException($"decoding depends on how the bytes are cut: whole [{signature}], in segments [{splitSignature}]");
        }

        return new Outcome(Frames.VerdictOf(whole), signature);
    }
}
