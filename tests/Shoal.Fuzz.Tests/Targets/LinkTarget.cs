using Shoal.Core;
using Shoal.Fuzz.Tests.Engine;
using Shoal.Protocol.Tests;

namespace Shoal.Fuzz.Tests.Targets;

/// <summary>
/// Shoal links: <see cref="ShoalLink.TryParse"/> on mutated link text. Whatever parses must print with
/// <see cref="ShoalLink.ToString"/> and parse back to the same id and name.
/// </summary>
internal sealed class LinkTarget() : TextTarget(
[
    ShoalLink.Scheme, "SHOAL:", "?name=", "&name=", "name=", "&", "?", "=", "%20", "+", "%2B", "%26", "%3D", "%E2%9C%93", "%ED%A0%80", "%F0%9F%90%9F",
    "%C3", "%", "%%", "%u0041", "a", "2", "7", "0", "1", "8", "z",
],
    maxLength: 4096)
{
    public override string Name => "links";

    public override IReadOnlyList<string> ValidSeeds { get; } =
    [
        new ShoalLink(Samples.FileOf(1), null).ToString(),
        new ShoalLink(Samples.FileOf(2), "movie.mkv").ToString(),
        new ShoalLink(Samples.FileOf(3), "Zoë's report (final) & more?.pdf").ToString(),
        new ShoalLink(Samples.FileOf(4), "a+b=c%d 🐟").ToString(),
        "SHOAL:" + Samples.FileOf(5).ToString().ToUpperInvariant() + "?foo=bar&name=x+y",
        "  shoal:" + Samples.FileOf(6) + "?flag&name=%E2%9C%93&other=  \n",
    ];

    public override Outcome Execute(string input)
    {
        if (!ShoalLink.TryParse(input, out var link, out var error))
        {
            if (string.IsNullOrEmpty(error)) throw new InvariantViolationException("refused without saying why");
            // The error quotes the link, which may hold quotes itself: cut it out before normalizing.
            var trimmed = input.Trim();
            return Outcome.Refused(Signature.Normalize(trimmed.Length > 0 ? error.Replace(trimmed, "…", StringComparison.Ordinal) : error));
        }

        // A lone surrogate has no UTF-8 form, so the printed link carries U+FFFD in its place (see the README): the
        // one change a round trip may make.
        var text = link.ToString();
        if (!ShoalLink.TryParse(text, out var again, out error) || again.Id != link.Id || again.Name != WellFormed(link.Name))
        {
            throw new InvariantViolationException(
                $"the link prints as {TextTarget.Quote(text)}, which parses to {(again is null ? error : TextTarget.Quote(again.Name ?? "(no name)"))}, not to the name {TextTarget.Quote(link.Name ?? "(no name)")}");
        }

        var name = link.Name switch
        {
            null => "none",
            var n => $"{Signature.Bucket(n.Length)}{(n.Any(c => c > 0x7F) ? "u" : "")}{(n.Any(char.IsControl) ? "c" : "")}{(n.Any(char.IsSurrogate) ? "s" : "")}",
        };
        return Outcome.Accepted($"ok name {name}");
    }

    private static string? WellFormed(string? text)
    {
        if (text is null) return null;
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) i++;
            else if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }

        return new string(chars);
    }
}
