using System.Text;
using Shoal.Core;
using Shoal.Fuzz.Tests.Engine;
using Shoal.Net.Tracking;

namespace Shoal.Fuzz.Tests.Targets;

/// <summary>
/// Tracker request signatures: <see cref="TrackerRequestVerifier.Verify"/> on mutated signed requests. An input is
/// the request as text: "METHOD path host", header lines "Name: value", a blank line and the body; a header given
/// twice counts as missing, as the tracker reads headers. The seeds are requests a member really signed (with
/// <see cref="TrackerRequestSigner"/>, kept as text because ECDSA signatures are randomized and the corpus must not
/// change between runs). Verify must never throw, must refuse with a 4xx and a reason, and may accept only a
/// request that means exactly what was signed: the same sender, network, nonce, time, method, path, host and body.
/// </summary>
internal sealed class TrackerSignatureTarget : TextTarget
{
    /// <summary>When the seeds were signed; verification runs 30 s later, well inside the allowed clock skew.</summary>
    public static readonly DateTimeOffset SignedAt = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly DateTimeOffset Now = SignedAt.AddSeconds(30);

    private static readonly string[] Specials =
    [
        .. TrackerHeaders.All.Select(h => "\n" + h + ": "), "\n\n", "POST", "post", "GET", "000", "=", "==", "+", "/", "-", "_", " ", "\t",
        "1767268800000", "1767268920001", "253402300800000", "TRACKER.EXAMPLE", "/v1/announce?x=1", "/V1/announce",
    ];

    /// <summary>Requests signed by TrackerRequestSigner for a device of <see cref="Corpus.Membership"/>'s network, at <see cref="SignedAt"/>.</summary>
    private static readonly string[] Signed = Array.ConvertAll<string, string>(
    [
        """
        POST /v1/announce tracker.example:8443
        Shoal-Certificate: MIIBPjCB5qADAgECAhBAAAAAAAAAAAAAAAAAAAAHMAoGCCqGSM49BAMCMBAxDjAMBgNVBAMTBXNob2FsMCAXDTI1MDEwMTAwMDAwMFoYDzk5OTkxMjMxMjM1OTU5WjAQMQ4wDAYDVQQDEwVzaG9hbDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABILDCpjPnfp9K6SfQDIsNmRMT8XOpRbSLfKM/wi8hrA2WZlyZEJYRhT39X3osJl1EnAWjD4lGFfyM+qbQ2d83n2jIDAeMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeAMAoGCCqGSM49BAMCA0cAMEQCIFZID77qGdqGnbjN/AAwGnplkA6uYo0S+PnOEncy+OQHAiAo2FPZpmWZ6EwkAfrh0TnX0zm3HBAGrIMGjEuzKSvhcQ==
        Shoal-Network-Key: MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8QxAB0gH+evQoote3+Cux9u+8By33mR0MsM0nMLSHYaaQ/nJG5irDClMbZdaVriXkQU4L1HfZMcfqhORqNS//Q==
        Shoal-Timestamp: 1767268800000
        Shoal-Nonce: P9tVsqJnUP1P3R1WFwDTMg
        Shoal-Device-Signature: Dk6XrIgXa8am77QbpXXQTXTW3A9PwlnaGhoJSUQBQ7Tu8z3nTsaDb0sC4X34vwBQR/s+iNyHmRRZP6w3K2vLSg==
        Shoal-Network-Signature: B5D8K0LKfGXiZGMUA5fkdU1rEumKR4//pNwcqMyI2OeS8AE6Cw/z8w6Pp+XiaW2e+8Oqi6GWixvZCCRMsbq34A==

        {"name":"laptop","listenPort":40123,"addresses":["192.0.2.7:40123","[2001:db8::7]:40123"],"reset":true,"files":[{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","name":"movie.mkv","size":123456789,"chunkCount":30,"chunks":null,"removed":false},{"id":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbba","name":"part.iso","size":13000000,"chunkCount":13,"chunks":"IRA=","removed":false}]}
        """,
        """
        POST /v1/files tracker.example:8443
        Shoal-Certificate: MIIBPjCB5qADAgECAhBAAAAAAAAAAAAAAAAAAAAHMAoGCCqGSM49BAMCMBAxDjAMBgNVBAMTBXNob2FsMCAXDTI1MDEwMTAwMDAwMFoYDzk5OTkxMjMxMjM1OTU5WjAQMQ4wDAYDVQQDEwVzaG9hbDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABILDCpjPnfp9K6SfQDIsNmRMT8XOpRbSLfKM/wi8hrA2WZlyZEJYRhT39X3osJl1EnAWjD4lGFfyM+qbQ2d83n2jIDAeMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeAMAoGCCqGSM49BAMCA0cAMEQCIFZID77qGdqGnbjN/AAwGnplkA6uYo0S+PnOEncy+OQHAiAo2FPZpmWZ6EwkAfrh0TnX0zm3HBAGrIMGjEuzKSvhcQ==
        Shoal-Network-Key: MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8QxAB0gH+evQoote3+Cux9u+8By33mR0MsM0nMLSHYaaQ/nJG5irDClMbZdaVriXkQU4L1HfZMcfqhORqNS//Q==
        Shoal-Timestamp: 1767268800000
        Shoal-Nonce: jEA-J2yaJBcF2NtoKcn6Dw
        Shoal-Device-Signature: 7INk4mXE19634KZ6jVpAm5uKg6qbJXkbq9s9H7HPMD6Aw+whiCV5YhGRHtnhsJlLTXcCpHo8GpniJ4IGLHqOkg==
        Shoal-Network-Signature: vQ2wmiNKye24l8V5KTGd509TAXXrsQ2Al1Wm8wOhFZP3BPxCJt4NZx9XbfTNypr4SBe98wwyjKUcRqpS/6huwg==

        {"query":"mov","limit":50}
        """,
        """
        POST /v1/peers tracker.example:8443
        Shoal-Certificate: MIIBPjCB5qADAgECAhBAAAAAAAAAAAAAAAAAAAAHMAoGCCqGSM49BAMCMBAxDjAMBgNVBAMTBXNob2FsMCAXDTI1MDEwMTAwMDAwMFoYDzk5OTkxMjMxMjM1OTU5WjAQMQ4wDAYDVQQDEwVzaG9hbDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABILDCpjPnfp9K6SfQDIsNmRMT8XOpRbSLfKM/wi8hrA2WZlyZEJYRhT39X3osJl1EnAWjD4lGFfyM+qbQ2d83n2jIDAeMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeAMAoGCCqGSM49BAMCA0cAMEQCIFZID77qGdqGnbjN/AAwGnplkA6uYo0S+PnOEncy+OQHAiAo2FPZpmWZ6EwkAfrh0TnX0zm3HBAGrIMGjEuzKSvhcQ==
        Shoal-Network-Key: MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8QxAB0gH+evQoote3+Cux9u+8By33mR0MsM0nMLSHYaaQ/nJG5irDClMbZdaVriXkQU4L1HfZMcfqhORqNS//Q==
        Shoal-Timestamp: 1767268800000
        Shoal-Nonce: pk4uxM99UXNgQJBziUSKlQ
        Shoal-Device-Signature: BKnXbo9/pIQ8ohBd/KqSZxQKz8hX28QEZllkH9MEJUb8v4Eb1pRJeFMtQqn7DKEslAM4VPbjz4ziqJTJzRnPwg==
        Shoal-Network-Signature: U+XRLlmRbZkHZIpEBVLuWs3BQSKfhtbRPDkrq/DlVabAd8kpJ0R21N+g5g2yPAylWnQ2eJjW61fh5/n/DxqKrQ==

        {}
        """,
    ],
        text => text.ReplaceLineEndings("\n"));

    private readonly TrackerRequestVerifier _verifier = new();
    private readonly Dictionary<string, Request> _signedByNonce = Signed.Select(Request.Parse).ToDictionary(r => r.Header(TrackerHeaders.Nonce)!, StringComparer.Ordinal);
    private readonly string _deviceHex;
    private readonly string _networkTag;

    public TrackerSignatureTarget()
        : base(Specials)
    {
        var certificate = Convert.FromBase64String(_signedByNonce.Values.First().Header(TrackerHeaders.Certificate)!);
        _deviceHex = TrackerDeviceId.Format(DeviceId.FromCertificate(certificate));
        using var networkKey = NetworkTrackerKey.Derive(Corpus.Membership);
        _networkTag = networkKey.Tag;
    }

    public override string Name => "tracker-signature";

    public override IReadOnlyList<string> ValidSeeds => Signed;

    public override int StructuralPercent => 40;

    /// <summary>Line-level changes: a header dropped, repeated, swapped, or given another request's or a hostile value.</summary>
    public override string? MutateStructurally(Random random, string input, string other)
    {
        var split = input.IndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0) return null;
        var lines = input[..split].Split('\n').ToList();
        var body = input[split..];
        var otherLines = other.Split('\n');
        var at = random.Next(lines.Count);
        switch (random.Next(5))
        {
            case 0 when lines.Count > 1:
                lines.RemoveAt(at);
                break;
            case 1:
                lines.Insert(random.Next(lines.Count + 1), lines[at]);
                break;
            case 2:
                var swap = random.Next(lines.Count);
                (lines[at], lines[swap]) = (lines[swap], lines[at]);
                break;
            case 3:
                lines[at] = otherLines[random.Next(otherLines.Length)];
                break;
            default:
                var colon = lines[at].IndexOf(':', StringComparison.Ordinal);
                var value = random.Next(4) switch
                {
                    0 => "",
                    1 => Convert.ToBase64String(RandomBytes(random, random.Next(1, 100))),
                    2 => " " + (colon < 0 ? lines[at] : lines[at][(colon + 1)..].Trim()) + " ",
                    _ => new string('A', random.Next(100, 5000)),
                };
                lines[at] = (colon < 0 ? lines[at] : lines[at][..(colon + 1)]) + " " + value;
                break;
        }

        var mutated = string.Join('\n', lines) + body;
        return mutated.Length <= TextMutator.DefaultMaxLength ? mutated : mutated[..TextMutator.DefaultMaxLength];
    }

    public override Outcome Execute(string input)
    {
        var request = Request.Parse(input);
        var verdict = _verifier.Verify(request.Header, request.Method, request.Path, request.Host, request.Body, Now);
        if (verdict.Sender is not { } sender)
        {
            if (verdict.Status is not (400 or 401) || string.IsNullOrEmpty(verdict.Error))
            {
                throw new InvariantViolationException($"refused with status {verdict.Status} and error '{verdict.Error}'");
            }

            return Outcome.Refused($"{verdict.Status} {Signature.Normalize(verdict.Error)}");
        }

        if (verdict.Status != 200
            || !_signedByNonce.TryGetValue(sender.Nonce, out var signed)
            || sender.DeviceHex != _deviceHex
            || sender.Network != _networkTag
            || sender.SignedAt != SignedAt
            || request.Method.ToUpperInvariant() != signed.Method
            || request.Path != signed.Path
            || request.Host.ToLowerInvariant() != signed.Host
            || !request.Body.AsSpan().SequenceEqual(signed.Body))
        {
            throw new InvariantViolationException("a request that differs from everything signed was accepted (a forgery)");
        }

        return Outcome.Accepted($"ok {signed.Path}");
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A request as text, taken apart the way the tracker sees it.</summary>
    private sealed record Request(string Method, string Path, string Host, IReadOnlyList<(string Name, string Value)> Headers, byte[] Body)
    {
        /// <summary>As TrackerApi reads headers: names in any case, surrounding blanks trimmed, a repeated header is missing.</summary>
        public string? Header(string name)
        {
            string? found = null;
            var count = 0;
            foreach (var (key, value) in Headers)
            {
                if (!key.Equals(name, StringComparison.OrdinalIgnoreCase)) continue;
                found = value;
                count++;
            }

            return count == 1 ? found : null;
        }

        public static Request Parse(string text)
        {
            var split = text.IndexOf("\n\n", StringComparison.Ordinal);
            var head = split < 0 ? text : text[..split];
            var body = split < 0 ? "" : text[(split + 2)..];
            var lines = head.Split('\n');
            var first = lines[0].Split(' ', 3);
            var headers = new List<(string, string)>();
            foreach (var line in lines.Skip(1))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0) headers.Add((line[..colon], line[(colon + 1)..].Trim(' ', '\t')));
            }

            return new Request(first[0], first.Length > 1 ? first[1] : "", first.Length > 2 ? first[2] : "", headers, Encoding.UTF8.GetBytes(body));
        }
    }
}
