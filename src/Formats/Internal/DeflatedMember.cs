namespace Mlx.Formats.Internal;

/// <summary>Location of a deflated .npz member: its compressed bytes, and where the array data begins once inflated.</summary>
internal sealed record DeflatedMember(
    string MemberName,
    long CompressedOffset,
    long CompressedSize,
    long UncompressedSize,
    uint Crc32,
    long DataStartInMember);
