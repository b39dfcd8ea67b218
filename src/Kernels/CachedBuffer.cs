using System.Runtime.InteropServices;

namespace Mlx.Kernels;

/// <summary>
/// One reusable 64-byte-aligned native scratch buffer, held by one caller at a time (a concurrent caller gets a fresh
/// one, kept if it is larger): large scratch memory allocated per call would fault in every page on first touch.
/// The buffer's size sits in the cache line before it.
/// </summary>
internal sealed unsafe class CachedBuffer
{
    private nint _cached;

    public void* Take(long bytes)
    {
        byte* p = (byte*)Interlocked.Exchange(ref _cached, 0);
        if (p != null && *(long*)p >= bytes)
        {
            return p + 64;
        }
        NativeMemory.AlignedFree(p);
        p = (byte*)NativeMemory.AlignedAlloc((nuint)(bytes + 64), 64);
        *(long*)p = bytes;
        return p + 64;
    }

    public void Give(void* buffer)
    {
        byte* mine = (byte*)buffer - 64;
        byte* old = (byte*)Interlocked.Exchange(ref _cached, (nint)mine);
        // Keep the larger of the two (unless another caller took ours in between).
        if (old != null && *(long*)old > *(long*)mine && Interlocked.CompareExchange(ref _cached, (nint)old, (nint)mine) == (nint)mine)
        {
            NativeMemory.AlignedFree(mine);
            return;
        }
        NativeMemory.AlignedFree(old);
    }
}
