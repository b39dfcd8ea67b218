namespace Mlx.Formats.Internal;

/// <summary>CRC-32 (IEEE 802.3, reflected 0xEDB88320) as zip uses; the BCL has no public one without a NuGet package.</summary>
internal struct Crc32
{
    private static readonly uint[] s_table = BuildTable();
    private uint _state;

    public Crc32()
    {
        _state = 0xFFFFFFFFu;
    }

    public readonly uint Value => ~_state;

    public void Append(ReadOnlySpan<byte> data)
    {
        uint crc = _state;
        uint[] table = s_table;
        foreach (byte b in data)
        {
            crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }
        _state = crc;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = new Crc32();
        crc.Append(data);
        return crc.Value;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            table[i] = c;
        }
        return table;
    }
}
