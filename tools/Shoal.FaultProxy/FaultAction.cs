using System.Globalization;

namespace Shoal.Faults;

/// <summary>Which way a fault applies: client to target (up), target to client (down), or both.</summary>
public enum Direction
{
    Both,
    Up,
    Down,
}

/// <summary>
/// One change to a proxy's faults, as written in a schedule (<see cref="Parse"/>) and printed back the same way:
/// <c>cut</c>, <c>refuse</c>, <c>accept</c>, <c>clear</c>, or <c>[up|down|both] delay 50ms | throttle 100K | throttle off |
/// stall [3s] | resume | flip 1e-6 | flip-after 65536</c>.
/// </summary>
public sealed record FaultAction(string Verb, Direction Direction = Direction.Both, TimeSpan? Duration = null, double Number = 0)
{
    private static readonly string[] DirectionNames = ["both", "up", "down"];

    public void Apply(FaultProxy proxy)
    {
        switch (Verb)
        {
            case "cut":
                proxy.Cut();
                return;
            case "refuse":
                proxy.Refusing = true;
                proxy.Cut();
                return;
            case "accept":
                proxy.Refusing = false;
                return;
            case "clear":
                proxy.Clear();
                return;
        }

        foreach (var link in Links(proxy))
        {
            switch (Verb)
            {
                case "delay":
                    link.Delay = Duration!.Value;
                    break;
                case "throttle":
                    link.BytesPerSecond = (long)Number;
                    break;
                case "stall" when Duration is { } duration:
                    link.StallFor(duration);
                    break;
                case "stall":
                    link.Stall();
                    break;
                case "resume":
                    link.Resume();
                    break;
                case "flip":
                    link.FlipProbability = Number;
                    break;
                case "flip-after":
                    link.FlipAfter((long)Number);
                    break;
                default:
                    throw new InvalidOperationException($"unknown fault '{Verb}'");
            }
        }
    }

    private IEnumerable<LinkFaults> Links(FaultProxy proxy)
    {
        if (Direction != Direction.Down) yield return proxy.Upstream;
        if (Direction != Direction.Up) yield return proxy.Downstream;
    }

    public override string ToString()
    {
        var prefix = Verb is "cut" or "refuse" or "accept" or "clear" ? "" : DirectionNames[(int)Direction] + " ";
        var argument = Verb switch
        {
            "delay" => " " + FormatDuration(Duration!.Value),
            "stall" when Duration is { } duration => " " + FormatDuration(duration),
            "throttle" => Number == 0 ? " off" : " " + Number.ToString(CultureInfo.InvariantCulture),
            "flip" => " " + Number.ToString("0.###e0", CultureInfo.InvariantCulture),
            "flip-after" => " " + Number.ToString(CultureInfo.InvariantCulture),
            _ => "",
        };
        return prefix + Verb + argument;
    }

    /// <summary>Parses one action; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static FaultAction Parse(string text)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length == 0) throw new FormatException("an empty fault");
        var direction = Direction.Both;
        var index = Array.IndexOf(DirectionNames, words[0].ToLowerInvariant());
        if (index >= 0)
        {
            direction = (Direction)index;
            words = words[1..];
            if (words.Length == 0) throw new FormatException($"'{text}': a direction without a fault");
        }

        var verb = words[0].ToLowerInvariant();
        var argument = words.Length > 1 ? words[1] : null;
        if (words.Length > 2) throw new FormatException($"'{text}': too many words");
        FaultAction action = verb switch
        {
            "cut" or "refuse" or "accept" or "clear" when index < 0 && argument is null => new(verb),
            "delay" when argument is not null => new(verb, direction, ParseDuration(argument)),
            "throttle" when argument is not null => new(verb, direction, Number: argument == "off" ? 0 : ParseSize(argument)),
            "stall" => new(verb, direction, argument is null ? null : ParseDuration(argument)),
            "resume" when argument is null => new(verb, direction),
            "flip" when argument is not null => new(verb, direction, Number: ParseProbability(argument)),
            "flip-after" when argument is not null => new(verb, direction, Number: ParseSize(argument)),
            _ => throw new FormatException(
                $"'{text}' is not a fault: cut, refuse, accept, clear, or [up|down|both] delay DURATION, throttle RATE|off, stall [DURATION], resume, flip PROBABILITY, flip-after BYTES"),
        };
        return action;
    }

    /// <summary><c>250ms</c>, <c>1.5s</c>, <c>2m</c>.</summary>
    public static TimeSpan ParseDuration(string text)
    {
        var (number, unit) = Split(text);
        var value = unit switch
        {
            "ms" => TimeSpan.FromMilliseconds(number),
            "s" => TimeSpan.FromSeconds(number),
            "m" => TimeSpan.FromMinutes(number),
            _ => throw new FormatException($"'{text}' is not a duration (like 250ms, 1.5s, 2m)"),
        };
        return value >= TimeSpan.Zero ? value : throw new FormatException($"'{text}' is negative");
    }

    private static string FormatDuration(TimeSpan value) =>
        value.TotalSeconds >= 1 && value.Milliseconds == 0
            ? value.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s"
            : value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms";

    /// <summary>Bytes (or bytes per second): <c>65536</c>, <c>100K</c>, <c>2M</c>, <c>1G</c> (powers of 1024).</summary>
    public static long ParseSize(string text)
    {
        var (number, unit) = Split(text);
        var factor = unit.ToUpperInvariant() switch
        {
            "" or "B" => 1L,
            "K" => 1L << 10,
            "M" => 1L << 20,
            "G" => 1L << 30,
            _ => throw new FormatException($"'{text}' is not a size (like 65536, 100K, 2M)"),
        };
        return number >= 0 ? (long)(number * factor) : throw new FormatException($"'{text}' is negative");
    }

    private static double ParseProbability(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value is >= 0 and <= 1
            ? value
            : throw new FormatException($"'{text}' is not a probability between 0 and 1");

    private static (double Number, string Unit) Split(string text)
    {
        var end = 0;
        while (end < text.Length && (char.IsAsciiDigit(text[end]) || text[end] == '.')) end++;
        if (end == 0 || !double.TryParse(text.AsSpan(0, end), NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            throw new FormatException($"'{text}' does not start with a number");
        }

        return (number, text[end..]);
    }
}
