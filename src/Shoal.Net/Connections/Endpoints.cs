using System.Net;

namespace Shoal.Net.Connections;

public static class Endpoints
{
    /// <summary>Parses "host:port", "[v6]:port" or a bare v6 address with port; hosts may be names.</summary>
    public static bool TryParse(string text, int defaultPort, out string host, out int port, out string error)
    {
        host = "";
        port = defaultPort;
        error = "";
        text = text.Trim();
        if (text.Length == 0)
        {
            error = "empty address";
            return false;
        }

        string portText;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = $"'{text}': missing ']'";
                return false;
            }

            host = text[1..close];
            portText = text[(close + 1)..].TrimStart(':');
        }
        else if (text.Count(c => c == ':') > 1)
        {
            host = text;
            portText = "";
        }
        else
        {
            var colon = text.LastIndexOf(':');
            host = colon < 0 ? text : text[..colon];
            portText = colon < 0 ? "" : text[(colon + 1)..];
        }

        if (portText.Length > 0 && (!int.TryParse(portText, out port) || port is < 0 or > 65535))
        {
            error = $"'{text}': the port must be a number from 0 to 65535";
            return false;
        }

        if (host.Length == 0)
        {
            error = $"'{text}': missing host";
            return false;
        }

        return true;
    }

    public static IPEndPoint ParseListen(string text, int defaultPort)
    {
        if (!TryParse(text, defaultPort, out var host, out var port, out var error)) throw new ArgumentException(error);
        var address = host switch
        {
            "*" => IPAddress.IPv6Any,
            "localhost" => IPAddress.Loopback,
            _ when IPAddress.TryParse(host, out var parsed) => parsed,
            _ => throw new ArgumentException($"'{text}': listen on an IP address (or '*' / '[::]' for every interface)"),
        };
        return new IPEndPoint(address, port);
    }

    public static string Format(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port).ToString() : endPoint.ToString();
}
