using Shoal.Core;
namespace Shoal.Cli;

/// <summary>A usage error: exit code 2 with the message and a pointer to help.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The parsed command line: flags with values, repeatable flags, switches and positionals. Each command declares
/// what it accepts, so an unknown flag is a usage error instead of being silently ignored.
/// </summary>
public sealed class Arguments
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _switches = new(StringComparer.Ordinal);

    private Arguments(string command, List<string> positionals)
    {
        Command = command;
        Positionals = positionals;
    }

    public string Command { get; }

    public IReadOnlyList<string> Positionals { get; }

    public static Arguments Parse(string command, IReadOnlyList<string> args, IReadOnlySet<string> valueFlags, IReadOnlySet<string> switchFlags)
    {
        var positionals = new List<string>();
        var parsed = new Arguments(command, positionals);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                positionals.AddRange(args.Skip(i + 1));
                break;
            }

            // A negative number is a value (shoal config trashDays -1 is then refused for what it is).
            if (!arg.StartsWith('-') || arg == "-" || (arg.Length > 1 && char.IsAsciiDigit(arg[1])))
            {
                positionals.Add(arg);
                continue;
            }

            var name = arg;
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                name = arg[..eq];
                inline = arg[(eq + 1)..];
            }

            if (switchFlags.Contains(name))
            {
                if (inline is not null) throw new UsageException($"{name} takes no value");
                parsed._switches.Add(name);
            }
            else if (valueFlags.Contains(name))
            {
                var value = inline ?? (i + 1 < args.Count ? args[++i] : throw new UsageException($"{name} needs a value"));
                if (!parsed._values.TryGetValue(name, out var list)) parsed._values[name] = list = [];
                list.Add(value);
            }
            else
            {
                throw new UsageException($"'{command}' does not take {name}");
            }
        }

        return parsed;
    }

    public string? Value(string name) => _values.TryGetValue(name, out var list) ? list[^1] : null;

    public IReadOnlyList<string> Values(string name) => _values.TryGetValue(name, out var list) ? list : [];

    public bool Has(string name) => _switches.Contains(name);

    public long? Bytes(string name)
    {
        var text = Value(name);
        if (text is null) return null;
        return ByteSize.TryParse(text, out var bytes) ? bytes : throw new UsageException($"{name}: '{text}' is not a size (e.g. 500K, 20M, 1G, or 0 for unlimited)");
    }

    public int? Int(string name)
    {
        var text = Value(name);
        if (text is null) return null;
        return int.TryParse(text, out var value) && value >= 0 ? value : throw new UsageException($"{name}: '{text}' is not a non-negative whole number");
    }
}
