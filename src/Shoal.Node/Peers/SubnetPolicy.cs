using System.Net;

namespace Shoal.Node.Peers;

/// <summary>Which source addresses may talk to this node at all. No subnets configured means any address.</summary>
public sealed class SubnetPolicy
{
    private readonly IReadOnlyList<IPNetwork> _allowed;

    public SubnetPolicy(IEnumerable<string> subnets)
    {
        var allowed = new List<IPNetwork>();
        foreach (var text in subnets)
        {
            if (!TryParseSubnet(text, out var network, out var error)) throw new ArgumentException(error);
            allowed.Add(network);
        }

        _allowed = allowed;
    }

    /// <summary>One subnet in CIDR form, as config.json and <c>--allow-subnet</c> give it.</summary>
    public static bool TryParseSubnet(string text, out IPNetwork network, out string error)
    {
        error = "";
        if (IPNetwork.TryParse(text.Trim(), out network)) return true;
        error = $"'{text}' is not a subnet in CIDR form (for example 192.168.1.0/24 or fd00::/8)";
        return false;
    }

    public IReadOnlyList<string> Subnets => [.. _allowed.Select(n => n.ToString())];

    public bool IsAllowed(IPAddress address)
    {
        if (_allowed.Count == 0) return true;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        return _allowed.Any(network => network.Contains(address));
    }
}
