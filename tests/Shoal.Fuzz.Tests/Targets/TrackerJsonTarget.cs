using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Shoal.Core;
using Shoal.Fuzz.Tests.Engine;
using Shoal.Net.Connections;
using Shoal.Net.Tracking;
using Shoal.Protocol.Tests;
using Shoal.Tracker;

namespace Shoal.Fuzz.Tests.Targets;

/// <summary>
/// Tracker request bodies, as the tracker reads them: deserialized with the source-generated
/// <see cref="TrackerJson"/> context, then checked by <see cref="RequestValidation"/>. An input is a path line
/// (which endpoint; any other line picks one by its hash) and the JSON body. The only ways to refuse are a
/// <see cref="JsonException"/> and <see cref="InvalidRequestException"/> (the tracker turns both into a 400); any
/// other exception would be a 500. Whatever is accepted must serialize, deserialize and validate to the same result.
/// </summary>
internal sealed partial class TrackerJsonTarget() : TextTarget(Specials)
{
    /// <summary>Where announces come from: an IPv4-mapped IPv6 address, as a dual-stack socket reports one.</summary>
    public static readonly IPAddress Remote = IPAddress.Parse("::ffff:203.0.113.9");

    private static readonly string[] Specials =
    [
        "null", "true", "false", "[]", "{}", "\"\"", "{\"a\":", "]", "}", new string('[', 70), "\\u0000", "\\ud800", "\\\"", "\\", "1.5", "-0", "1e5",
        "0x10", "\"listenPort\":", "\"files\":[", "\"chunks\":", "\"removed\":true", "\"reset\":true", "\"devices\":", "\"limit\":", ",", ":", "\"$type\":\"x\",",
        "\"$id\":\"1\",", "\"$ref\":\"1\"", "/*c*/", "//c\n", "\"name\":\"a\",\"name\":\"b\",", "\"size\":-1,", "\"chunkCount\":16777216,",
    ];

    private static readonly string[] HostileValues =
    [
        "null", "true", "0", "-1", "1", "65535", "65536", "2147483647", "2147483648", "-2147483649", "9223372036854775807", "9223372036854775808",
        "1e400", "1.5", "\"1\"", "\"\"", "\"x\"", "[]", "{}", "[null]", "[{}]", "[\"\"]", "\"AAAA\"", "\"////\"", "\"AA==\"", "\"\\u0000\"", "\"\\ud800\"",
        "\"" + new string('a', 300) + "\"", "\"0.0.0.0:0\"", "\"[::]:1\"", "\"[::ffff:1.2.3.4]:5\"", "\"1.2.3.4\"", "\"::1:80\"",
        "\"" + Samples.FileOf(77) + "\"", "\"" + Samples.FileOf(78).ToString().ToUpperInvariant() + "\"", "\"" + new string('A', 64) + "\"",
        "\"" + Convert.ToBase64String(new byte[2_097_152 / 1024]) + "\"", "16777216", "16777217", "10000", "10001", "1000", "1001",
        "[" + string.Join(',', Enumerable.Repeat("null", 1001)) + "]", "[" + string.Join(',', Enumerable.Repeat("\"1.2.3.4:5\"", 9)) + "]",
        new string('[', 65) + new string(']', 65), new string('[', 63) + new string(']', 63),
    ];

    /// <summary>The requests' property names, in any case (the Web defaults match them case-insensitively).</summary>
    private static readonly Dictionary<string, string> KnownProperties = new string[]
    {
        "name", "listenPort", "addresses", "reset", "files", "id", "size", "chunkCount", "chunks", "removed", "query", "limit", "file", "devices",
    }.ToDictionary(name => name, StringComparer.OrdinalIgnoreCase);

    private static readonly Endpoint[] Endpoints =
    [
        Endpoint.For(TrackerPaths.Announce, TrackerJson.Default.AnnounceRequest, Describe),
        Endpoint.For(TrackerPaths.Files, TrackerJson.Default.FilesRequest, r => $"{RequestValidation.Files(r)}"),
        Endpoint.For(TrackerPaths.Holders, TrackerJson.Default.HoldersRequest, r => $"{RequestValidation.Holders(r)}"),
        Endpoint.For(TrackerPaths.Peers, TrackerJson.Default.PeersRequest, Describe),
        Endpoint.For(TrackerPaths.Leave, TrackerJson.Default.LeaveRequest, _ => "leave"),
    ];

    public override string Name => "tracker-json";

    public override IReadOnlyList<string> ValidSeeds { get; } =
    [
        TrackerPaths.Announce + "\n" + JsonSerializer.Serialize(
            new AnnounceRequest("laptop", 40123, ["192.0.2.7:40123", "[2001:db8::7]:40123", "0.0.0.0:1", "[::ffff:198.51.100.1]:2"], true,
            [
                new FileAnnouncement(Samples.FileOf(1).ToString(), "movie.mkv", 123_456_789, 30),
                new FileAnnouncement(Samples.FileOf(2).ToString(), "part.iso", 13_000_000, 13, Convert.ToBase64String(Samples.Bits(13, 0, 5, 12).AsSpan())),
                new FileAnnouncement(Samples.FileOf(3).ToString(), "gone", 0, 0, Removed: true),
                new FileAnnouncement(Samples.FileOf(4).ToString(), "empty", 0, 0),
                new FileAnnouncement(Samples.FileOf(5).ToString(), "all", 8, 8, Convert.ToBase64String(Bitfield.Full(8).AsSpan())),
            ]),
            TrackerJson.Default.AnnounceRequest),
        TrackerPaths.Announce + "\n{\"name\":\"\",\"listenPort\":1,\"addresses\":null,\"reset\":false,\"files\":null}",
        TrackerPaths.Files + "\n" + JsonSerializer.Serialize(new FilesRequest("mov", 50), TrackerJson.Default.FilesRequest),
        TrackerPaths.Files + "\n{}",
        TrackerPaths.Holders + "\n" + JsonSerializer.Serialize(new HoldersRequest(Samples.FileOf(1).ToString(), 5), TrackerJson.Default.HoldersRequest),
        TrackerPaths.Peers + "\n" + JsonSerializer.Serialize(new PeersRequest([Corpus.Alice.Value.ToHex(), Corpus.Bob.Value.ToHex().ToUpperInvariant()], 10), TrackerJson.Default.PeersRequest),
        TrackerPaths.Peers + "\n{}",
        TrackerPaths.Leave + "\n{}",
    ];

    public override IReadOnlyList<string> OtherSeeds { get; } = ["\n", "/v1/holders\n{}", "/v1/unknown\n{\"limit\":1}", "/v1/peers\nnull"];

    public override int StructuralPercent => 40;

    /// <summary>Swaps one JSON value for a hostile one: wrong types, boundary numbers, huge lists, deep nesting.</summary>
    public override string? MutateStructurally(Random random, string input, string other)
    {
        var colons = new List<int>();
        for (var i = 0; i < input.Length; i++)
        {
            if (input[i] == ':') colons.Add(i);
        }

        if (colons.Count == 0) return null;
        var start = colons[random.Next(colons.Count)] + 1;
        while (start < input.Length && input[start] == ' ') start++;
        var end = ValueEnd(input, start);
        var replacement = random.Next(4) == 0 && end > start
            ? string.Join(',', Enumerable.Repeat(input[start..end], random.Next(2, 12)))
            : HostileValues[random.Next(HostileValues.Length)];
        if (random.Next(3) == 0 && end > start && input[start] == '[' && end - start > 2)
        {
            // Another element in a list: the list's own limits.
            var element = input[(start + 1)..(ValueEnd(input, start + 1))];
            replacement = "[" + string.Join(',', Enumerable.Repeat(element, random.Next(2, 12))) + "]";
        }

        var mutated = input[..start] + replacement + input[end..];
        return mutated.Length <= TextMutator.DefaultMaxLength ? mutated : mutated[..TextMutator.DefaultMaxLength];
    }

    public override Outcome Execute(string input)
    {
        var newline = input.IndexOf('\n', StringComparison.Ordinal);
        var path = newline < 0 ? "" : input[..newline];
        var body = Encoding.UTF8.GetBytes(newline < 0 ? input : input[(newline + 1)..]);
        // Any other line picks an endpoint by its hash, so a mangled path line still tests some endpoint.
        var endpoint = Array.Find(Endpoints, e => e.Path == path) ?? Endpoints[(MutationFuzzer.StableHash(path) & int.MaxValue) % Endpoints.Length];
        var (ok, result) = endpoint.Run(body);
        return new Outcome(ok ? Verdict.Accepted : Verdict.Refused, $"{endpoint.Path}{(endpoint.Path == path ? "" : "?")} {result}");
    }

    /// <summary>A JSON path with unknown property names as '?' and indices as '#': the input's own keys are not a new path.</summary>
    private static string PathShape(string? path)
    {
        if (path is null) return "";
        var shape = new StringBuilder("$");
        foreach (Match token in PathToken().Matches(path))
        {
            var name = token.Groups[1].Success ? token.Groups[1].Value : token.Groups[2].Success ? token.Groups[2].Value : null;
            shape.Append(name is null ? "[#]" : "." + KnownProperties.GetValueOrDefault(name, "?"));
        }

        return shape.ToString();
    }

    [GeneratedRegex(@"\.([^.\[]+)|\['((?:[^']|'')*)'\]|\[\d+\]")]
    private static partial Regex PathToken();

    private static int ValueEnd(string text, int start)
    {
        if (start >= text.Length) return start;
        if (text[start] == '"')
        {
            for (var i = start + 1; i < text.Length; i++)
            {
                if (text[i] == '\\') i++;
                else if (text[i] == '"') return i + 1;
            }

            return text.Length;
        }

        var depth = 0;
        var inString = false;
        for (var i = start; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (c == '\\') i++;
                else if (c == '"') inString = false;
            }
            else if (c == '"') inString = true;
            else if (c is '[' or '{') depth++;
            else if (c is ']' or '}')
            {
                if (depth == 0) return i;
                if (--depth == 0) return i + 1;
            }
            else if (c == ',' && depth == 0) return i;
        }

        return text.Length;
    }

    private static string Describe(AnnounceRequest request)
    {
        var valid = RequestValidation.Announce(request, Remote);
        var changes = valid.Changes.Select(c => $"{c.File}:{c.Name}:{c.Size}:{c.ChunkCount}:{(c.Chunks is null ? "-" : Convert.ToBase64String(c.Chunks))}:{c.Removed}");
        return $"{valid.Registration.Name}|{string.Join(',', valid.Registration.Addresses)}|{valid.ObservedAddress}|{valid.Reset}|{string.Join(',', changes)}";
    }

    private static string Describe(PeersRequest request)
    {
        var (devices, limit) = RequestValidation.Peers(request);
        return $"{(devices is null ? "-" : string.Join(',', devices))}|{limit}";
    }

    /// <summary>One endpoint: its path, its request type and what validation makes of a request.</summary>
    private sealed class Endpoint(string path, Func<byte[], (bool, string)> run)
    {
        public string Path => path;

        public (bool Accepted, string Signature) Run(byte[] body) => run(body);

        public static Endpoint For<TRequest>(string path, JsonTypeInfo<TRequest> type, Func<TRequest, string> validate) where TRequest : class =>
            new(path, body =>
            {
                TRequest? request;
                string validated;
                try
                {
                    request = JsonSerializer.Deserialize(body, type);
                    if (request is null) return (false, "null body");
                    validated = validate(request);
                }
                catch (JsonException e)
                {
                    return (false, $"json {PathShape(e.Path)} {Reason(e.Message)}");
                }
                catch (InvalidRequestException e)
                {
                    return (false, $"invalid {Reason(e.Message)}");
                }

                // The tracker only keeps what it validated, but a request it accepts must also mean the same when a client sends it again.
                var again = JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(request, type), type)
                    ?? throw new InvariantViolationException("an accepted request serializes to null");
                var revalidated = validate(again);
                if (revalidated != validated)
                {
                    throw new InvariantViolationException($"an accepted request validates differently after a round trip: {validated} vs {revalidated}");
                }

                return (true, $"ok {Shape(request)}");
            });

        /// <summary>
        /// The kind of error without the input it quotes. The quoted text may hold quotes and ". " itself, so the
        /// message is cut at the serializer's trailing " Path: …" and the quoted part taken to the last "' is" or
        /// "' was", where the fixed wording resumes.
        /// </summary>
        private static string Reason(string message)
        {
            var path = message.LastIndexOf(" Path: ", StringComparison.Ordinal);
            if (path >= 0) message = message[..path];
            var open = message.IndexOf('\'');
            var close = Math.Max(message.LastIndexOf("' is ", StringComparison.Ordinal), message.LastIndexOf("' was ", StringComparison.Ordinal));
            if (open >= 0 && close > open) message = message[..open] + "'…" + message[close..];
            return Signature.Normalize(message);
        }

        private static string Shape(object request) => request switch
        {
            AnnounceRequest a => $"files {Signature.Bucket(a.Files?.Count ?? 0)} addresses {a.Addresses?.Count ?? -1} " +
                string.Concat((a.Files ?? []).Take(8).Select(f => f is null ? 'n' : f.Removed ? 'r' : f.Chunks is null ? 'c' : 'p')),
            FilesRequest f => $"query {Signature.Bucket(f.Query?.Length ?? -1)}",
            PeersRequest p => $"devices {Signature.Bucket(p.Devices?.Count ?? -1)}",
            _ => "",
        };
    }
}
