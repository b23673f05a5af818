using Shoal.Core;
using Shoal.Fuzz.Tests.Engine;
using Shoal.Net;
using Shoal.Protocol;
using Shoal.Protocol.Tests;

namespace Shoal.Fuzz.Tests.Targets;

/// <summary>
/// The membership handshake: one side's view of it, as bytes. A role byte (bit 0: the proof was made by the TLS
/// client), the client's and the server's device ids (the certificate hashes TLS gave us), then the frames that
/// crossed the wire: the client's Hello, the server's Hello and the prover's Auth. The frames are decoded as the
/// codec would, and <see cref="NetworkMembership.VerifyProof"/> is asked about the decoded nonces and proof and
/// also about the raw bytes where they sit (so proofs and nonces of every wrong length get there too). It must
/// never throw, and must say yes only for exactly a transcript the seeds proved: any other role, nonce, device or
/// proof is a forgery.
/// </summary>
internal sealed class HandshakeTarget : ByteTarget
{
    private const int PrefixSize = 1 + (2 * Hash256.Size);
    private const int NonceOffset = 2 + NetworkId.Size;

    private readonly HashSet<string> _provenTranscripts = new(StringComparer.Ordinal);

    public HandshakeTarget()
    {
        var seeds = new List<byte[]>();
        var devices = new[] { (Corpus.Alice, Corpus.Bob), (Corpus.Bob, Corpus.Alice), (default(DeviceId), DeviceId.FromBytes(Samples.Pattern(32, 9))) };
        for (var i = 0; i < devices.Length; i++)
        {
            var (client, server) = devices[i];
            var clientNonce = Samples.Pattern(Hello.NonceSize, 100 + i);
            var serverNonce = i == 2 ? new byte[Hello.NonceSize] : Samples.Pattern(Hello.NonceSize, 200 + i);
            foreach (var byClient in new[] { true, false })
            {
                var proof = Corpus.Membership.ComputeProof(byClient, clientNonce, serverNonce, client, server);
                _provenTranscripts.Add(Transcript(byClient, clientNonce, serverNonce, client, server, proof));
                seeds.Add(
                [
                    byClient ? (byte)1 : (byte)0,
                    .. client.Value.ToArray(),
                    .. server.Value.ToArray(),
                    .. FrameCodec.Encode(new Hello(1, Corpus.Network, clientNonce, "client " + i, 40_000)),
                    .. FrameCodec.Encode(new Hello(1, Corpus.Network, serverNonce, i == 1 ? "" : "server ✓", 0)),
                    .. FrameCodec.Encode(new Auth(proof)),
                ]);
            }
        }

        ValidSeeds = seeds;
    }

    public override string Name => "handshake";

    public override IReadOnlyList<byte[]> ValidSeeds { get; }

    public override int StructuralPercent => 50;

    public override byte[]? MutateStructurally(Random random, byte[] input, byte[] other) =>
        Frames.MutateInsideFrame(random, input, other.Length > PrefixSize ? other[PrefixSize..] : other, Mutator, PrefixSize);

    public override Outcome Execute(byte[] input)
    {
        var byClient = input.Length > 0 && (input[0] & 1) == 1;
        var client = DeviceOf(input, 1);
        var server = DeviceOf(input, 1 + Hash256.Size);
        var wire = input.Length > PrefixSize ? input[PrefixSize..] : [];
        var reads = Frames.ReadAll(new(wire));

        bool? decodedVerdict = null;
        if (reads.Count >= 3 && reads[0].Message is Hello clientHello && reads[1].Message is Hello serverHello && reads[2].Message is Auth auth)
        {
            decodedVerdict = Verify(byClient, clientHello.Nonce, serverHello.Nonce, client, server, auth.Proof);
        }

        // The same question about the raw bytes, whatever the codec thought of them.
        var bodies = Frames.Boundaries(wire).Select(f => wire.AsSpan(f.Start + FrameCodec.HeaderSize, f.Length - FrameCodec.HeaderSize).ToArray()).ToList();
        var rawClientNonce = NonceIn(bodies, 0);
        var rawServerNonce = NonceIn(bodies, 1);
        var rawProof = bodies.Count > 2 ? bodies[2] : wire;
        var rawVerdict = Verify(byClient, rawClientNonce, rawServerNonce, client, server, rawProof);

        var signature = $"{(input.Length < PrefixSize ? "short" : "")}{Frames.Describe(reads)}|decoded {decodedVerdict?.ToString() ?? "-"}|raw {rawVerdict} " +
            $"{Size(rawClientNonce, Hello.NonceSize)}{Size(rawServerNonce, Hello.NonceSize)}{Size(rawProof, Auth.ProofSize)}";
        return decodedVerdict == true ? Outcome.Accepted(signature) : Outcome.Refused(signature);
    }

    private bool Verify(bool byClient, byte[] clientNonce, byte[] serverNonce, DeviceId client, DeviceId server, byte[] proof)
    {
        var verified = Corpus.Membership.VerifyProof(byClient, clientNonce, serverNonce, client, server, proof);
        if (verified && !_provenTranscripts.Contains(Transcript(byClient, clientNonce, serverNonce, client, server, proof)))
        {
            throw new InvariantViolationException("VerifyProof accepted a transcript that was never proved (a forgery)");
        }

        return verified;
    }

    /// <summary>Short, right or long: the three cases VerifyProof's length check tells apart.</summary>
    private static char Size(byte[] bytes, int expected) => bytes.Length < expected ? '<' : bytes.Length == expected ? '=' : '>';

    private static DeviceId DeviceOf(byte[] input, int offset)
    {
        var bytes = new byte[Hash256.Size];
        if (input.Length > offset) input.AsSpan(offset, Math.Min(Hash256.Size, input.Length - offset)).CopyTo(bytes);
        return DeviceId.FromBytes(bytes);
    }

    private static byte[] NonceIn(List<byte[]> bodies, int index)
    {
        if (bodies.Count <= index || bodies[index].Length <= NonceOffset) return [];
        var body = bodies[index];
        return body.AsSpan(NonceOffset, Math.Min(Hello.NonceSize, body.Length - NonceOffset)).ToArray();
    }

    private static string Transcript(bool byClient, byte[] clientNonce, byte[] serverNonce, DeviceId client, DeviceId server, byte[] proof) =>
        $"{byClient}|{Convert.ToHexString(clientNonce)}|{Convert.ToHexString(serverNonce)}|{client.Value.ToHex()}|{server.Value.ToHex()}|{Convert.ToHexString(proof)}";
}
