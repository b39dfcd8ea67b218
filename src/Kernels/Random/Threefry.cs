using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Mlx.Kernels.Random;

/// <summary>
/// MLX-exact counter-based random bits: the Threefry-2x32 (20 rounds) hash, MLX's key / split,
/// and the exact output layout of MLX's <c>RandomBits</c> primitive on CPU
/// (<c>mlx/backend/cpu/primitives.cpp</c>, <c>RandomBits::eval_cpu</c>).
/// The float transforms (<c>uniform</c>, <c>normal</c>, <c>erfinv</c>, ...) live in the other part of this
/// class (<c>ThreefryTransforms.cs</c>). All methods are allocation free.
/// </summary>
/// <remarks>
/// A key is a pair of uint32 words <c>(key0, key1)</c>, i.e. the two elements of MLX's uint32 key array of shape [2].
/// MLX's global generator (<c>mx.random.seed(s)</c>) is <c>k = Key(s)</c>; every call that takes no explicit key does
/// <c>(k, sub) = Split(k)</c> and uses <c>sub</c> (<c>KeySequence::next</c> in <c>mlx/random.cpp</c>).
/// </remarks>
public static partial class Threefry
{
    /// <summary>The Threefish key-schedule parity constant used by Threefry (and JAX / MLX).</summary>
    public const uint KeyScheduleParity = 0x1BD11BDA;

    /// <summary>
    /// Threefry-2x32 with 20 rounds, exactly as JAX's <c>threefry_2x32</c> and MLX's <c>threefry2x32_hash</c>:
    /// rotations (13, 15, 26, 6) / (17, 29, 16, 24), key schedule <c>ks = (k0, k1, k0 ^ k1 ^ 0x1BD11BDA)</c>,
    /// a key injection after every 4 rounds, injection number <c>i + 1</c> added to the second word.
    /// </summary>
    /// <param name="key0">First key word.</param>
    /// <param name="key1">Second key word.</param>
    /// <param name="x0">First counter word.</param>
    /// <param name="x1">Second counter word.</param>
    /// <returns>The two hashed words.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint, uint) Threefry2x32(uint key0, uint key1, uint x0, uint x1)
    {
        uint ks2 = key0 ^ key1 ^ KeyScheduleParity;
        x0 += key0;
        x1 += key1;

        // Injection 1: ks1, ks2 + 1
        Mix(ref x0, ref x1, 13); Mix(ref x0, ref x1, 15); Mix(ref x0, ref x1, 26); Mix(ref x0, ref x1, 6);
        x0 += key1; x1 += ks2 + 1u;
        // Injection 2: ks2, ks0 + 2
        Mix(ref x0, ref x1, 17); Mix(ref x0, ref x1, 29); Mix(ref x0, ref x1, 16); Mix(ref x0, ref x1, 24);
        x0 += ks2; x1 += key0 + 2u;
        // Injection 3: ks0, ks1 + 3
        Mix(ref x0, ref x1, 13); Mix(ref x0, ref x1, 15); Mix(ref x0, ref x1, 26); Mix(ref x0, ref x1, 6);
        x0 += key0; x1 += key1 + 3u;
        // Injection 4: ks1, ks2 + 4
        Mix(ref x0, ref x1, 17); Mix(ref x0, ref x1, 29); Mix(ref x0, ref x1, 16); Mix(ref x0, ref x1, 24);
        x0 += key1; x1 += ks2 + 4u;
        // Injection 5: ks2, ks0 + 5
        Mix(ref x0, ref x1, 13); Mix(ref x0, ref x1, 15); Mix(ref x0, ref x1, 26); Mix(ref x0, ref x1, 6);
        x0 += ks2; x1 += key0 + 5u;

        return (x0, x1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mix(ref uint x0, ref uint x1, int r)
    {
        x0 += x1;
        x1 = uint.RotateLeft(x1, r);
        x1 ^= x0;
    }

    /// <summary>
    /// MLX's <c>random.key(seed)</c>: <c>(key0, key1) = ((uint)(seed &gt;&gt; 32), (uint)seed)</c>.
    /// A negative Python/C++ int64 seed maps to <c>unchecked((ulong)seed)</c>.
    /// </summary>
    public static (uint, uint) Key(ulong seed) => ((uint)(seed >> 32), (uint)seed);

    /// <summary>
    /// Byte-identical to MLX's <c>mx.random.bits(shape, width, key)</c> on CPU with <c>N = product(shape)</c>:
    /// fills <paramref name="output"/> (<c>N * elementWidth</c> bytes, the little-endian memory image of the uint8 /
    /// uint16 / uint32 result) from one key.
    /// </summary>
    /// <remarks>
    /// Layout (<c>RandomBits::eval_cpu</c>): the output is viewed as <c>W = ceil(bytes / 4)</c> uint32 words,
    /// <c>H = W / 2</c>, <c>odd = W % 2</c>. For <c>j</c> in <c>[0, H)</c>,
    /// <c>(w[j], w[j + H + odd]) = Threefry2x32(key, (j, j + H + odd))</c>; if <c>odd</c>,
    /// <c>w[H] = Threefry2x32(key, (H, 0)).Item1</c>. The last word is truncated to the bytes that remain
    /// (its low-order bytes, little-endian) when <c>bytes</c> is not a multiple of 4.
    /// MLX supports widths 1, 2 and 4 only (<c>[bits] Bit width must be in {1, 2, 4}</c>).
    /// </remarks>
    /// <param name="key0">First key word.</param>
    /// <param name="key1">Second key word.</param>
    /// <param name="output">Destination, length <c>N * elementWidth</c>.</param>
    /// <param name="elementWidth">Bytes per element: 1, 2 or 4.</param>
    public static void FillBits(uint key0, uint key1, Span<byte> output, int elementWidth)
    {
        ValidateWidth(output.Length, elementWidth, nameof(output));
        FillBitsCore(key0, key1, output);
    }

    /// <summary>Typed convenience for <c>mx.random.bits(shape, 4, key)</c>: fills uint32 elements.</summary>
    public static void FillBits(uint key0, uint key1, Span<uint> output)
    {
        FillBitsCore(key0, key1, MemoryMarshal.AsBytes(output));
        FixEndianness(output);
    }

    /// <summary>Typed convenience for <c>mx.random.bits(shape, 2, key)</c>: fills uint16 elements.</summary>
    public static void FillBits(uint key0, uint key1, Span<ushort> output)
    {
        FillBitsCore(key0, key1, MemoryMarshal.AsBytes(output));
        FixEndianness(output);
    }

    /// <summary>
    /// Batched <c>RandomBits</c>: MLX's primitive accepts keys of shape <c>[..., 2]</c> (this is what
    /// <c>vmap(random.bits)</c> and <c>split</c> of a batch of keys produce). With <c>K = keys.Length / 2</c> keys,
    /// key <c>i</c> is <c>(keys[2i], keys[2i + 1])</c> and fills the contiguous block
    /// <c>output[i * B .. (i + 1) * B)</c>, <c>B = output.Length / K</c>, exactly as <see cref="FillBits(uint, uint, Span{byte}, int)"/>.
    /// </summary>
    /// <param name="keys">Row-major <c>[K, 2]</c> uint32 keys (strided keys must be gathered by the caller).</param>
    /// <param name="output">Destination, length <c>K * M * elementWidth</c> for <c>M</c> elements per key.</param>
    /// <param name="elementWidth">Bytes per element: 1, 2 or 4.</param>
    public static void FillBitsBatch(ReadOnlySpan<uint> keys, Span<byte> output, int elementWidth)
    {
        if ((keys.Length & 1) != 0)
            throw new ArgumentException("Keys must have shape [..., 2] (even length).", nameof(keys));
        int numKeys = keys.Length / 2;
        if (numKeys == 0)
        {
            if (!output.IsEmpty)
                throw new ArgumentException("No keys given for a non-empty output.", nameof(output));
            return;
        }
        if (output.Length % numKeys != 0)
            throw new ArgumentException("Output length must be a multiple of the number of keys.", nameof(output));
        int bytesPerKey = output.Length / numKeys;
        ValidateWidth(bytesPerKey, elementWidth, nameof(output));
        for (int i = 0; i < numKeys; i++)
            FillBitsCore(keys[2 * i], keys[2 * i + 1], output.Slice(i * bytesPerKey, bytesPerKey));
    }

    /// <summary>Typed <see cref="FillBitsBatch(ReadOnlySpan{uint}, Span{byte}, int)"/> for 32-bit draws.</summary>
    public static void FillBitsBatch(ReadOnlySpan<uint> keys, Span<uint> output)
    {
        FillBitsBatch(keys, MemoryMarshal.AsBytes(output), 4);
        FixEndianness(output);
    }

    /// <summary>
    /// MLX's <c>random.split(key, num)</c> = <c>bits([num, 2], 4, key)</c>: writes <c>num</c> keys as a row-major
    /// <c>[num, 2]</c> uint32 array (<c>num = keysOut.Length / 2</c>).
    /// </summary>
    public static void Split(uint key0, uint key1, Span<uint> keysOut)
    {
        if ((keysOut.Length & 1) != 0)
            throw new ArgumentException("Output must have shape [num, 2] (even length).", nameof(keysOut));
        FillBits(key0, key1, keysOut);
    }

    /// <summary>
    /// MLX's <c>random.split(key)</c> (num = 2): rows 0 and 1 of <c>bits([2, 2], 4, key)</c>. MLX's global generator
    /// keeps the first and hands out the second.
    /// </summary>
    public static ((uint, uint) First, (uint, uint) Second) Split(uint key0, uint key1)
    {
        // bits([2,2]) : W = 4, H = 2, even => words (0,2) from counter (0,2), words (1,3) from counter (1,3).
        var (w0, w2) = Threefry2x32(key0, key1, 0, 2);
        var (w1, w3) = Threefry2x32(key0, key1, 1, 3);
        return ((w0, w1), (w2, w3));
    }

    private static void ValidateWidth(int byteLength, int elementWidth, string paramName)
    {
        if (elementWidth is not (1 or 2 or 4))
            throw new ArgumentOutOfRangeException(nameof(elementWidth), elementWidth, "[bits] Bit width must be in {1, 2, 4}.");
        if (byteLength % elementWidth != 0)
            throw new ArgumentException("Output length must be a multiple of the element width.", paramName);
    }

    // RandomBits::eval_cpu for one key, over the byte image of its output block.
    private static void FillBitsCore(uint key0, uint key1, Span<byte> dst)
    {
        int bytes = dst.Length;
        if (bytes == 0)
            return;
        uint words = (uint)((bytes + 3L) / 4);
        uint half = words / 2;
        bool odd = (words & 1) != 0;
        uint c0 = 0;
        uint c1 = half + (odd ? 1u : 0u);

        for (; c0 + 1 < half; c0++, c1++)
        {
            var (a, b) = Threefry2x32(key0, key1, c0, c1);
            BinaryPrimitives.WriteUInt32LittleEndian(dst.Slice((int)(4 * c0)), a);
            BinaryPrimitives.WriteUInt32LittleEndian(dst.Slice((int)(4 * c1)), b);
        }
        if (c0 < half)
        {
            var (a, b) = Threefry2x32(key0, key1, c0, c1);
            BinaryPrimitives.WriteUInt32LittleEndian(dst.Slice((int)(4 * c0)), a);
            c0++;
            WriteRemaining(dst, c1, b);
        }
        if (odd)
        {
            // c0 == half here (0 when half == 0).
            var (a, _) = Threefry2x32(key0, key1, c0, 0);
            WriteRemaining(dst, half, a);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteRemaining(Span<byte> dst, uint wordIndex, uint value)
    {
        int offset = (int)(4 * wordIndex);
        int left = dst.Length - offset;
        if (left >= 4)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(dst.Slice(offset), value);
            return;
        }
        for (int i = 0; i < left; i++)
            dst[offset + i] = (byte)(value >> (8 * i));
    }

    private static void FixEndianness(Span<uint> values)
    {
        if (BitConverter.IsLittleEndian) return;
        BinaryPrimitives.ReverseEndianness(values, values);
    }

    private static void FixEndianness(Span<ushort> values)
    {
        if (BitConverter.IsLittleEndian) return;
        BinaryPrimitives.ReverseEndianness(values, values);
    }
}
