using System.Buffers;
using System.Buffers.Binary;

namespace Shoal.Protocol.Tests;

public class MutationTests
{
    private const int Iterations = 20_000;

    private static readonly byte[][] Corpus = [.. Samples.All.Select(FrameCodec.Encode)];

    /// <summary>
    /// Whatever a peer sends, decoding only ever reports a status; and whatever it accepts is canonical, so it
    /// re-encodes to exactly the bytes consumed (a node can always send what it accepts).
    /// </summary>
    [Fact]
    public void Mutated_frames_never_throw_and_accepted_frames_are_canonical()
    {
        var random = new Random(20_240_601);
        var outcomes = new Dictionary<FrameStatus, int>();
        for (var i = 0; i < Iterations; i++)
        {
            var bytes = Mutate(random, Pick(random));
            var buffer = Split(random, bytes);
            while (true)
            {
                var before = buffer;
                var status = FrameCodec.TryReadFrame(ref buffer, out var message, out var error);
                Assert.True(Enum.IsDefined(status));
                outcomes[status] = outcomes.GetValueOrDefault(status) + 1;
                if (status != FrameStatus.Ok)
                {
                    Assert.Null(message);
                    Assert.Equal(before, buffer);
                    Assert.Equal(status == FrameStatus.Invalid, error.Length > 0);
                    break;
                }

                var consumed = before.Slice(0, before.Length - buffer.Length).ToArray();
                Assert.Equal(consumed, FrameCodec.Encode(message!));
            }
        }

        // The mutations must actually reach every outcome, or the test proves little.
        Assert.All(Enum.GetValues<FrameStatus>(), s => Assert.True(outcomes.GetValueOrDefault(s) > 100, $"{s}: {outcomes.GetValueOrDefault(s)}"));
    }

    [Fact]
    public void Random_bodies_for_every_type_never_throw()
    {
        var random = new Random(7);
        foreach (var type in Enum.GetValues<MessageType>())
        {
            for (var i = 0; i < 500; i++)
            {
                var body = new byte[random.Next(0, 300)];
                random.NextBytes(body);
                if (FrameCodec.TryDecode(type, Split(random, body), out var message, out var error))
                {
                    Assert.Equal(body, FrameCodec.Encode(message!)[FrameCodec.HeaderSize..]);
                }
                else
                {
                    Assert.Null(message);
                    Assert.NotEqual("", error);
                }
            }
        }
    }

    private static byte[] Pick(Random random)
    {
        var first = Corpus[random.Next(Corpus.Length)];
        if (random.Next(4) != 0) return first;
        return [.. first, .. Corpus[random.Next(Corpus.Length)]];
    }

    private static byte[] Mutate(Random random, byte[] original)
    {
        var bytes = new List<byte>(original);
        var mutations = random.Next(1, 5);
        for (var m = 0; m < mutations; m++)
        {
            switch (random.Next(7))
            {
                case 0 when bytes.Count > 0:
                    bytes[random.Next(bytes.Count)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when bytes.Count > 0:
                    bytes[random.Next(bytes.Count)] = (byte)random.Next(256);
                    break;
                case 2:
                    var insert = new byte[random.Next(1, 9)];
                    random.NextBytes(insert);
                    bytes.InsertRange(random.Next(bytes.Count + 1), insert);
                    break;
                case 3 when bytes.Count > 0:
                    var at = random.Next(bytes.Count);
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, random.Next(1, 9)));
                    break;
                case 4:
                    var cut = random.Next(bytes.Count + 1);
                    bytes.RemoveRange(cut, bytes.Count - cut);
                    break;
                case 5 when bytes.Count >= 4:
                    // Keep the length consistent with the mutated body half the time, so bodies get decoded.
                    var length = random.Next(2) == 0 ? (uint)(bytes.Count - FrameCodec.LengthPrefixSize) : (uint)random.Next();
                    var prefix = new byte[FrameCodec.LengthPrefixSize];
                    BinaryPrimitives.WriteUInt32BigEndian(prefix, length);
                    for (var k = 0; k < prefix.Length; k++) bytes[k] = prefix[k];
                    break;
                case 6 when bytes.Count >= 5:
                    bytes[FrameCodec.LengthPrefixSize] = (byte)random.Next(256);
                    break;
            }
        }

        return [.. bytes];
    }

    private static ReadOnlySequence<byte> Split(Random random, byte[] bytes)
    {
        if (random.Next(3) == 0) return new ReadOnlySequence<byte>(bytes);
        var cuts = new SortedSet<int>();
        var count = random.Next(1, 6);
        for (var i = 0; i < count; i++) cuts.Add(random.Next(bytes.Length + 1));
        return Sequences.SplitAt(bytes, [.. cuts]);
    }
}
