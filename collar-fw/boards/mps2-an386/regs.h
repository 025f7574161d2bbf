/*
 * regs.h — register addresses used by the mps2-an386 board files (Armv7-M system control space, CMSDK
 * APB peripherals as mapped by the AN385/AN386 FPGA image). Names follow the Arm documentation.
 */
#ifndef BOARD_MPS2_AN386_REGS_H
#define BOARD_MPS2_AN386_REGS_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* System control block */
#define SCB_ICSR 0xE000ED04u
#define SCB_ICSR_PENDSTSET (1u << 26)
#define SCB_AIRCR 0xE000ED0Cu
#define SCB_AIRCR_VECTKEY (0x05FAu << 16)
#define SCB_AIRCR_SYSRESETREQ (1u << 2)
#define SCB_CCR 0xE000ED14u
#define SCB_CCR_DIV_0_TRP (1u << 4)
#define SCB_SHPR3 0xE000ED20u
#define SCB_CFSR 0xE000ED28u
#define SCB_HFSR 0xE000ED2Cu
#define SCB_MMFAR 0xE000ED34u
#define SCB_BFAR 0xE000ED38u

/* SysTick */
#define SYST_CSR 0xE000E010u
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2) /* 1: processor clock */
#define SYST_RVR 0xE000E014u
#define SYST_CVR 0xE000E018u

/* NVIC */
#define NVIC_ISER0 0xE000E100u
#define NVIC_ICER0 0xE000E180u
#define NVIC_IPR(n) (0xE000E400u + (n))

/* CMSDK APB UART */
#define UART_DATA 0x00u
#define UART_STATE 0x04u
#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)
#define UART_STATE_TXOVR (1u << 2)
#define UART_STATE_RXOVR (1u << 3)
#define UART_CTRL 0x08u
#define UART_CTRL_TXEN (1u << 0)
#define UART_CTRL_RXEN (1u << 1)
#define UART_CTRL_TXINT (1u << 2)
#define UART_CTRL_RXINT (1u << 3)
#define UART_CTRL_TXOVRINT (1u << 4)
#define UART_CTRL_RXOVRINT (1u << 5)
#define UART_INTSTATUS 0x0Cu /* read: status; write 1: clear */
#define UART_INT_TX (1u << 0)
#define UART_INT_RX (1u << 1)
#define UART_INT_TXOVR (1u << 2)
#define UART_INT_RXOVR (1u << 3)
#define UART_BAUDDIV 0x10u

/* CMSDK APB dual timer, first counter */
#define DUALTIMER1_LOAD 0x40002000u
#define DUALTIMER1_VALUE 0x40002004u
#define DUALTIMER1_CONTROL 0x40002008u
#define DUALTIMER_CTRL_32BIT (1u << 1)
#define DUALTIMER_CTRL_ENABLE (1u << 7) /* mode bit 6 clear: free-running, wraps to 0xFFFFFFFF */

/* CMSDK APB watchdog */
#define WDOG_BASE 0x40008000u
#define WDOG_LOAD (WDOG_BASE + 0x000u)
#define WDOG_CTRL (WDOG_BASE + 0x008u)
#define WDOG_CTRL_INTEN (1u << 0)
#define WDOG_CTRL_RESEN (1u << 1)
#define WDOG_INTCLR (WDOG_BASE + 0x00Cu)
#define WDOG_LOCK (WDOG_BASE + 0xC00u)
#define WDOG_UNLOCK_KEY 0x1ACCE551u

/* Debug: DWT cycle counter (probed at boot: QEMU 7.2 does not implement it, see README.md) */
#define DEMCR 0xE000EDFCu
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL 0xE0001000u
#define DWT_CTRL_CYCCNTENA (1u << 0)
#define DWT_CYCCNT 0xE0001004u

#endif
