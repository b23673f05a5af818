using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Shoal.Fuzz.Tests.Engine;
using Shoal.Protocol;
using Shoal.Protocol.Tests;

namespace Shoal.Fuzz.Tests.Targets;

/// <summary>One frame as <see cref="FrameCodec.TryReadFrame"/> saw it.</summary>
internal readonly record struct FrameRead(FrameStatus Status, Message? Message, string Error, int Consumed);

/// <summary>Reading, checking and mutating streams of frames, shared by the frame, handshake and index targets.</summary>
internal static class Frames
{
    public const int MaxFramesPerInput = 64;

    /// <summary>
    /// Cuts <paramref name="data"/> into a few segments at offsets derived from its own bytes, so the same input is
    /// always cut the same way (replay) while different inputs are cut differently. Each part is a copy, so reading
    /// past a segment's end would see other memory rather than the next bytes.
    /// </summary>
    public static ReadOnlySequence<byte> Split(byte[] data)
    {
        if (data.Length < 2) return new ReadOnlySequence<byte>(data.ToArray());
        var random = new Random(MutationFuzzer.StableHash(Convert.ToBase64String(data, 0, Math.Min(data.Length, 48))) ^ data.Length);
        var cuts = new SortedSet<int>();
        var count = random.Next(1, 8);
        for (var i = 0; i < count; i++) cuts.Add(random.Next(1, data.Length));

        // Single bytes around the header too, where length and type are read.
        if (random.Next(2) == 0) cuts.UnionWith(new[] { 1, 2, 3, 4, 5 }.Where(c => c < data.Length));
        var parts = new List<ReadOnlyMemory<byte>>();
        var start = 0;
        foreach (var cut in cuts.Append(data.Length))
        {
            parts.Add(data[start..cut]);
            start = cut;
        }

        return Sequences.FromParts(parts);
    }

    /// <summary>
    /// Reads frames until one is not <see cref="FrameStatus.Ok"/>, checking the codec's promises on each: a decoded
    /// frame re-encodes to exactly the bytes it was read from (only canonical encodings are accepted), and a frame
    /// that is not decoded leaves the buffer alone, with an error exactly when it is invalid.
    /// </summary>
    public static List<FrameRead> ReadAll(ReadOnlySequence<byte> buffer)
    {
        var reads = new List<FrameRead>();
        while (reads.Count < MaxFramesPerInput)
        {
            var before = buffer;
            var status = FrameCodec.TryReadFrame(ref buffer, out var message, out var error);
            if (!Enum.IsDefined(status)) throw new InvariantViolationException($"TryReadFrame returned undefined status {status}");
            if (status != FrameStatus.Ok)
            {
                if (message is not null) throw new InvariantViolationException($"{status} came with a message");
                if (!before.Start.Equals(buffer.Start) || !before.End.Equals(buffer.End)) throw new InvariantViolationException($"{status} moved the buffer");
                if ((status == FrameStatus.Invalid) != (error.Length > 0)) throw new InvariantViolationException($"{status} with error '{error}'");
                reads.Add(new FrameRead(status, null, error, 0));
                break;
            }

            if (message is null) throw new InvariantViolationException("Ok without a message");
            var consumed = before.Slice(0, before.Length - buffer.Length).ToArray();
            CheckCanonical(message, consumed);
            CheckChunkResponsePath(message, consumed);
            reads.Add(new FrameRead(status, message, error, consumed.Length));
        }

        return reads;
    }

    /// <summary>What a read stream exercised: each frame's type, or the status and the kind of error that ended it.</summary>
    public static string Describe(List<FrameRead> reads)
    {
        var text = new StringBuilder();
        foreach (var read in reads.Take(6))
        {
            if (text.Length > 0) text.Append(',');
            text.Append(read.Status == FrameStatus.Ok ? read.Message!.Type.ToString() : $"{read.Status}:{Signature.Normalize(read.Error)}");
        }

        if (reads.Count > 6) text.Append(",+").Append(Signature.Bucket(reads.Count - 6));
        return text.ToString();
    }

    public static Verdict VerdictOf(List<FrameRead> reads) =>
        reads[^1].Status == FrameStatus.Invalid ? Verdict.Refused
        : reads.Any(read => read.Status == FrameStatus.Ok) ? Verdict.Accepted
        : Verdict.Incomplete;

    private static void CheckCanonical(Message message, byte[] consumed)
    {
        byte[] encoded;
        try
        {
            encoded = FrameCodec.Encode(message);
        }
        catch (ArgumentException e)
        {
            throw new InvariantViolationException($"a decoded {message.Type} does not encode again: {e.Message}");
        }

        if (!encoded.AsSpan().SequenceEqual(consumed))
        {
            throw new InvariantViolationException($"a decoded {message.Type} re-encodes to {Convert.ToHexStringLower(encoded)}, not to the bytes read");
        }

        if (FrameCodec.GetFrameLength(message) != consumed.Length) throw new InvariantViolationException($"GetFrameLength of a {message.Type} is wrong");
    }

    /// <summary>The data path reads chunk responses with TryReadHeader and TryParseChunkResponse: it must agree with TryDecode.</summary>
    private static void CheckChunkResponsePath(Message message, byte[] frame)
    {
        if (message is not ChunkResponse response) return;
        var sequence = new ReadOnlySequence<byte>(frame);
        if (FrameCodec.TryReadHeader(sequence, out var type, out var bodyLength, out var error) != FrameStatus.Ok || type != MessageType.ChunkResponse)
        {
            throw new InvariantViolationException($"TryReadHeader refuses a chunk response TryReadFrame took: {error}");
        }

        if (!FrameCodec.TryParseChunkResponse(sequence.Slice(FrameCodec.HeaderSize, bodyLength), out var requestId, out var data, out error)
            || requestId != response.RequestId
            || !data.ToArray().AsSpan().SequenceEqual(response.Data.Span))
        {
            throw new InvariantViolationException($"TryParseChunkResponse disagrees with TryDecode: {error}");
        }
    }

    /// <summary>The (start, length) of each whole frame, by its length prefix, as far as the prefixes make sense.</summary>
    public static List<(int Start, int Length)> Boundaries(ReadOnlySpan<byte> data)
    {
        var frames = new List<(int, int)>();
        var at = 0;
        while (data.Length - at >= FrameCodec.HeaderSize)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(data[at..]);
            if (length < 1 || length > data.Length - at - FrameCodec.LengthPrefixSize) break;
            frames.Add((at, FrameCodec.LengthPrefixSize + (int)length));
            at += FrameCodec.LengthPrefixSize + (int)length;
        }

        return frames;
    }

    /// <summary>
    /// Mutates inside one frame (mostly its body, sometimes its type) and rewrites its length prefix to match, so
    /// the mutant reaches the body decoder instead of dying at the length check.
    /// </summary>
    public static byte[]? MutateInsideFrame(Random random, byte[] input, byte[] other, IMutator<byte[]> mutator, int offset = 0)
    {
        if (input.Length < offset) return null;
        var frames = Boundaries(input.AsSpan(offset));
        if (frames.Count == 0) return null;
        var (start, length) = frames[random.Next(frames.Count)];
        start += offset;
        var keepType = random.Next(5) != 0;
        var from = start + FrameCodec.LengthPrefixSize + (keepType ? 1 : 0);
        var end = start + length;
        var otherFrames = Boundaries(other);
        var otherBody = otherFrames.Count == 0
            ? other
            : other.AsSpan(otherFrames[0].Start + FrameCodec.HeaderSize, otherFrames[0].Length - FrameCodec.HeaderSize).ToArray();
        var body = mutator.Mutate(random, input[from..end], otherBody);
        var mutated = new byte[input.Length - (end - from) + body.Length];
        input.AsSpan(0, from).CopyTo(mutated);
        body.CopyTo(mutated.AsSpan(from));
        input.AsSpan(end).CopyTo(mutated.AsSpan(from + body.Length));
        var newLength = (uint)(end - start - FrameCodec.LengthPrefixSize - (end - from) + body.Length);
        BinaryPrimitives.WriteUInt32BigEndian(mutated.AsSpan(start), newLength);
        return mutated;
    }
}
