using Shoal.Net.Connections;

namespace Shoal.Node.Peers;

/// <summary>
/// Which of two links to one device stays. A link that does not go through a relay beats one that does, so a relayed
/// link gives way as soon as a direct or punched one comes up; between equals, the one dialled by the smaller device
/// id stays. Both ends judge the same links the same way, so they keep the same one without talking.
/// </summary>
public static class LinkPreference
{
    public static bool Replaces(LinkKind candidate, bool candidateDialledBySmaller, LinkKind existing, bool existingDialledBySmaller)
    {
        var (newRank, oldRank) = (Rank(candidate), Rank(existing));
        return newRank != oldRank ? newRank > oldRank : candidateDialledBySmaller && !existingDialledBySmaller;
    }

    private static int Rank(LinkKind kind) => kind == LinkKind.Relayed ? 0 : 1;
}
