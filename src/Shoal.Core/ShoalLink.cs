namespace Shoal.Core;

/// <summary><c>shoal:&lt;id&gt;[?name=&lt;percent-encoded name&gt;]</c>: the id alone is enough to fetch and verify.</summary>
public sealed record ShoalLink(FileId Id, string? Name)
{
    public const string Scheme = "shoal:";

    public override string ToString() =>
        string.IsNullOrEmpty(Name) ? Scheme + Id : $"{Scheme}{Id}?name={Uri.EscapeDataString(Name)}";

    public static ShoalLink Parse(string text) =>
        TryParse(text, out var link, out var error) ? link : throw new FormatException(error);

    public static bool TryParse(string? text, out ShoalLink link, out string error)
    {
        link = null!;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text) || !text.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            error = $"'{text}' is not a Shoal link: a link looks like shoal:<id>?name=<name>, as 'shoal share' prints it";
            return false;
        }

        var rest = text.AsSpan(Scheme.Length);
        var query = rest.IndexOf('?');
        var idText = query < 0 ? rest : rest[..query];
        if (!FileId.TryParse(idText, out var id))
        {
            error = $"'{text}' is not a Shoal link: a link looks like shoal:<id>?name=<name>, the file id <id> being {FileId.TextLength} characters a-z and 2-7; copy the whole link 'shoal share' printed";
            return false;
        }

        string? name = null;
        if (query >= 0)
        {
            foreach (var part in rest[(query + 1)..].ToString().Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = part.IndexOf('=', StringComparison.Ordinal);
                var key = eq < 0 ? part : part[..eq];
                if (key == "name" && eq >= 0)
                {
                    try
                    {
                        name = Uri.UnescapeDataString(part[(eq + 1)..].Replace('+', ' '));
                    }
                    catch (UriFormatException)
                    {
                        error = $"'{text}' has a badly encoded name (percent-encode it, e.g. %20 for a space)";
                        return false;
                    }
                }
            }
        }

        link = new ShoalLink(id, string.IsNullOrEmpty(name) ? null : name);
        error = "";
        return true;
    }
}
