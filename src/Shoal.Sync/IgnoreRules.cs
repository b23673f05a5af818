using System.Text;

namespace Shoal.Sync;

/// <summary>Patterns from a folder's <c>.shoalignore</c> (gitignore-like), plus what Shoal never syncs.</summary>
/// <remarks>
/// Patterns are compiled to a small hand-written matcher rather than to regexes: it never throws on a pattern
/// (a regex engine rejects some, and NonBacktracking rejects large ones), its cost is bounded by the pattern and
/// path lengths whatever the pattern, and it matches path components in place without allocating.
/// </remarks>
public sealed class IgnoreRules
{
    public const string FileName = ".shoalignore";

    /// <summary>Deeper paths than this split into a heap array instead of the stack.</summary>
    private const int StackComponents = 64;

    private readonly Rule[] _rules;

    private IgnoreRules(Rule[] rules)
    {
        _rules = rules;
        Patterns = rules.Select(r => r.Line).ToArray();
    }

    public static IgnoreRules Empty { get; } = Parse("");

    /// <summary>The lines that became rules, as written (comments and blank lines dropped, trailing spaces trimmed).</summary>
    public IReadOnlyList<string> Patterns { get; }

    /// <summary>Never throws: a pattern that is not a valid glob (such as an unterminated '[') matches its text literally.</summary>
    public static IgnoreRules Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var rules = new List<Rule>();
        foreach (var rawLine in text.Split('\n'))
        {
            var line = TrimTrailingSpaces(rawLine.TrimEnd('\r'));
            if (line.Length == 0 || line[0] == '#') continue;
            var rule = Rule.Compile(line);
            if (rule is not null) rules.Add(rule);
        }

        return new IgnoreRules(rules.ToArray());
    }

    /// <summary>True if the folder path (or one of its parent directories) is ignored.</summary>
    /// <remarks>
    /// Parents are checked first, as git does: nothing below an ignored directory is looked at, so a negation
    /// cannot re-include a file whose directory is excluded.
    /// </remarks>
    public bool IsIgnored(string path, bool isDirectory)
    {
        ArgumentNullException.ThrowIfNull(path);
        var text = path.AsSpan();
        var count = text.Count('/') + 1;
        var components = count <= StackComponents ? stackalloc Range[StackComponents] : new Range[count];
        components = components[..text.Split(components, '/')];
        for (var depth = 1; depth <= components.Length; depth++)
        {
            if (text[components[depth - 1]].StartsWith(FolderPath.TempPrefix, StringComparison.Ordinal)) return true;
            if (Matches(text, components[..depth], depth < components.Length || isDirectory)) return true;
        }

        return false;
    }

    /// <summary>The last rule that matches decides; a path no rule matches is kept.</summary>
    private bool Matches(ReadOnlySpan<char> path, ReadOnlySpan<Range> components, bool isDirectory)
    {
        for (var i = _rules.Length - 1; i >= 0; i--)
        {
            var rule = _rules[i];
            if ((isDirectory || !rule.DirectoryOnly) && rule.Matches(path, components)) return !rule.Negated;
        }

        return false;
    }

    /// <summary>Trailing spaces are dropped unless the last one is escaped with a backslash, as in gitignore.</summary>
    private static string TrimTrailingSpaces(string line)
    {
        var end = line.Length;
        while (end > 0 && line[end - 1] == ' ' && !IsEscaped(line, end - 1)) end--;
        return line[..end];
    }

    /// <summary>An odd number of backslashes before <paramref name="index"/> escapes the character there.</summary>
    private static bool IsEscaped(string text, int index)
    {
        var backslashes = 0;
        while (index - backslashes - 1 >= 0 && text[index - backslashes - 1] == '\\') backslashes++;
        return backslashes % 2 == 1;
    }

    /// <summary>
    /// A pattern as a list of segments, one per path component, where "**" stands for any number of components.
    /// Split at the last "**": the segments after it must match the path's last components exactly, which is a
    /// cheap test that rejects most paths before the general search runs.
    /// </summary>
    private sealed class Rule
    {
        private readonly Segment[] _head;
        private readonly Segment[] _tail;

        private Rule(string line, bool negated, bool directoryOnly, List<Segment> segments)
        {
            Line = line;
            Negated = negated;
            DirectoryOnly = directoryOnly;
            var split = segments.FindLastIndex(s => s.IsAnyDepth) + 1;
            _head = segments.GetRange(0, split).ToArray();
            _tail = segments.GetRange(split, segments.Count - split).ToArray();
        }

        public string Line { get; }

        public bool Negated { get; }

        public bool DirectoryOnly { get; }

        /// <summary>Null for a line that names nothing, such as a lone "!" or "/".</summary>
        public static Rule? Compile(string line)
        {
            var pattern = line;
            var negated = pattern[0] == '!';
            if (negated) pattern = pattern[1..];
            var directoryOnly = false;
            while (pattern.EndsWith('/') && !IsEscaped(pattern, pattern.Length - 1))
            {
                pattern = pattern[..^1];
                directoryOnly = true;
            }

            // A slash anywhere but at the end ties the pattern to the folder root; without one it matches at any depth.
            var anchored = pattern.Contains('/');
            if (pattern.StartsWith('/')) pattern = pattern[1..];
            if (pattern.Length == 0) return null;

            var segments = new List<Segment>();
            if (!anchored) segments.Add(Segment.AnyDepth);
            var parts = pattern.Split('/');
            for (var i = 0; i < parts.Length; i++)
            {
                if (parts[i] != "**")
                {
                    segments.Add(Segment.Parse(parts[i]));
                    continue;
                }

                // "dir/**" is everything inside dir but not dir itself, so it needs at least one more component.
                if (i > 0 && i == parts.Length - 1) segments.Add(Segment.AnyName);
                if (segments.Count == 0 || !segments[^1].IsAnyDepth) segments.Add(Segment.AnyDepth);
            }

            return new Rule(line, negated, directoryOnly, segments);
        }

        public bool Matches(ReadOnlySpan<char> path, ReadOnlySpan<Range> components)
        {
            var split = components.Length - _tail.Length;
            if (split < 0 || (_head.Length == 0 && split != 0)) return false;
            for (var i = 0; i < _tail.Length; i++)
            {
                if (!_tail[i].Matches(path[components[split + i]])) return false;
            }

            return _head.Length == 0 || MatchesHead(path, components[..split]);
        }

        /// <summary>
        /// Classic wildcard search with "**" as the wildcard: only the latest "**" is ever backtracked to, which is
        /// exact because every other segment matches exactly one component, and keeps the cost at most
        /// segments × components.
        /// </summary>
        private bool MatchesHead(ReadOnlySpan<char> path, ReadOnlySpan<Range> components)
        {
            int component = 0, segment = 0, anyDepthSegment = -1, anyDepthStart = 0;
            while (component < components.Length)
            {
                if (segment < _head.Length && _head[segment].IsAnyDepth)
                {
                    anyDepthSegment = segment++;
                    anyDepthStart = component;
                }
                else if (segment < _head.Length && _head[segment].Matches(path[components[component]]))
                {
                    segment++;
                    component++;
                }
                else if (anyDepthSegment >= 0)
                {
                    segment = anyDepthSegment + 1;
                    component = ++anyDepthStart;
                }
                else
                {
                    return false;
                }
            }

            while (segment < _head.Length && _head[segment].IsAnyDepth) segment++;
            return segment == _head.Length;
        }
    }

    /// <summary>One component of a pattern: a glob over a single name, or "**" (<see cref="IsAnyDepth"/>).</summary>
    /// <remarks>
    /// Most names are rejected by the literal text a glob must start or end with ("*.log" ends with ".log") or
    /// by its length, before the search runs.
    /// </remarks>
    private sealed class Segment
    {
        private readonly Token[] _tokens;
        private readonly string _prefix;
        private readonly string _suffix;
        private readonly int _minLength;

        private Segment(Token[] tokens, bool isAnyDepth)
        {
            _tokens = tokens;
            IsAnyDepth = isAnyDepth;
            _prefix = tokens.Length > 0 && tokens[0].Kind == TokenKind.Literal ? tokens[0].Text : "";
            _suffix = tokens.Length > 0 && tokens[^1].Kind == TokenKind.Literal ? tokens[^1].Text : "";
            _minLength = tokens.Sum(t => t.Kind switch
            {
                TokenKind.Literal => t.Text.Length,
                TokenKind.Star => 0,
                _ => 1,
            });
        }

        public static Segment AnyDepth { get; } = new([], isAnyDepth: true);

        public static Segment AnyName { get; } = new([Token.Star], isAnyDepth: false);

        public bool IsAnyDepth { get; }

        public static Segment Parse(string glob)
        {
            var tokens = new List<Token>();
            var literal = new StringBuilder();
            for (var i = 0; i < glob.Length; i++)
            {
                var c = glob[i];
                Token? token = null;
                switch (c)
                {
                    case '*':
                        // "**" inside a name is no different from "*".
                        while (i + 1 < glob.Length && glob[i + 1] == '*') i++;
                        token = Token.Star;
                        break;
                    case '?':
                        token = Token.AnyRune;
                        break;
                    case '[' when Token.TryParseClass(glob, ref i, out var cls):
                        token = cls;
                        break;
                    case '\\' when i + 1 < glob.Length:
                        literal.Append(glob[++i]);
                        break;
                    default:
                        literal.Append(c);
                        break;
                }

                if (token is null) continue;
                if (literal.Length > 0) tokens.Add(Token.Literal(literal.ToString()));
                literal.Clear();
                tokens.Add(token.Value);
            }

            if (literal.Length > 0) tokens.Add(Token.Literal(literal.ToString()));
            return new Segment(tokens.ToArray(), isAnyDepth: false);
        }

        /// <summary>
        /// Classic wildcard search over one name: only the latest '*' is backtracked to, which is exact because
        /// every other token has at most one way to match at a position. Steps by whole runes so '?' is one character.
        /// </summary>
        public bool Matches(ReadOnlySpan<char> name)
        {
            if (name.Length < _minLength
                || !name.StartsWith(_prefix, StringComparison.Ordinal)
                || !name.EndsWith(_suffix, StringComparison.Ordinal))
            {
                return false;
            }

            int at = 0, token = 0, starToken = -1, starAt = 0;
            while (at < name.Length)
            {
                if (token < _tokens.Length && _tokens[token].Kind == TokenKind.Star)
                {
                    starToken = token++;
                    starAt = at;
                    continue;
                }

                var length = token < _tokens.Length ? _tokens[token].MatchLength(name, at) : 0;
                if (length > 0)
                {
                    at += length;
                    token++;
                }
                else if (starToken >= 0)
                {
                    starAt += RuneLength(name, starAt);
                    at = starAt;
                    token = starToken + 1;
                }
                else
                {
                    return false;
                }
            }

            while (token < _tokens.Length && _tokens[token].Kind == TokenKind.Star) token++;
            return token == _tokens.Length;
        }
    }

    private enum TokenKind
    {
        Literal,
        AnyRune,
        Star,
        Class,
    }

    private readonly record struct ClassRange(int Low, int High);

    private readonly record struct Token(TokenKind Kind, string Text, ClassRange[] Ranges, bool Negated)
    {
        public static Token Star { get; } = new(TokenKind.Star, "", [], false);

        public static Token AnyRune { get; } = new(TokenKind.AnyRune, "", [], false);

        public static Token Literal(string text) => new(TokenKind.Literal, text, [], false);

        /// <summary>
        /// Parses the class whose '[' is at <paramref name="index"/> and moves it to the closing ']'. False if the
        /// class is unterminated or has a reversed range, so the caller takes the '[' literally.
        /// </summary>
        public static bool TryParseClass(string glob, ref int index, out Token token)
        {
            token = default;
            var i = index + 1;
            var negated = i < glob.Length && glob[i] is '!' or '^';
            if (negated) i++;
            var ranges = new List<ClassRange>();

            // A ']' right after the opening is a member, not the end.
            var first = true;
            while (i < glob.Length && (glob[i] != ']' || first))
            {
                first = false;
                var low = ReadMember(glob, ref i);
                if (i + 1 < glob.Length && glob[i] == '-' && glob[i + 1] != ']')
                {
                    i++;
                    var high = ReadMember(glob, ref i);
                    if (high < low) return false;
                    ranges.Add(new ClassRange(low, high));
                }
                else
                {
                    ranges.Add(new ClassRange(low, low));
                }
            }

            if (i >= glob.Length) return false;
            index = i;
            token = new Token(TokenKind.Class, "", ranges.ToArray(), negated);
            return true;
        }

        /// <summary>The length of the match at <paramref name="at"/>, or 0 for none (no token matches nothing).</summary>
        public int MatchLength(ReadOnlySpan<char> name, int at)
        {
            if (at >= name.Length) return 0;
            switch (Kind)
            {
                case TokenKind.Literal:
                    return name[at..].StartsWith(Text, StringComparison.Ordinal) ? Text.Length : 0;
                case TokenKind.AnyRune:
                    return RuneLength(name, at);
                default:
                    Rune.DecodeFromUtf16(name[at..], out var rune, out var consumed);
                    var inClass = false;
                    foreach (var range in Ranges) inClass |= range.Low <= rune.Value && rune.Value <= range.High;
                    return inClass != Negated ? consumed : 0;
            }
        }

        /// <summary>Reads one class member (a rune, or a backslash-escaped one) and moves past it.</summary>
        private static int ReadMember(string glob, ref int i)
        {
            if (glob[i] == '\\' && i + 1 < glob.Length) i++;
            Rune.DecodeFromUtf16(glob.AsSpan(i), out var rune, out var consumed);
            i += consumed;
            return rune.Value;
        }
    }

    private static int RuneLength(ReadOnlySpan<char> text, int at) =>
        char.IsHighSurrogate(text[at]) && at + 1 < text.Length && char.IsLowSurrogate(text[at + 1]) ? 2 : 1;
}
